/**
 * The systems' pinned certificates in PostgreSQL (deploy/sql/016_pki_system_certificates.sql),
 * shared by every replica and by `gw pki issue` run in any of them. A pin is a row; the system's
 * pin is its row with the highest seq. Pins of one system are serialised by a transaction-scoped
 * advisory lock, so "the pin it replaced" is exact and pinIfAbsent cannot let two importing
 * replicas both pin. Readers poll version() — count and max(seq) of an append-only table, one
 * index-backed statement, as for the revocations — and read pins() only when it changed.
 */
import type pg from 'pg';
import { openStorePool } from '../db/migrate.ts';
import { inTransaction } from '../db/postgres.ts';
import type {
  PinInput,
  PinResult,
  SystemCertificate,
  SystemCertificateStore,
} from '../ports/system-certificate-store.ts';
import { assertSystemId } from './bootstrap.ts';
import { certificateToPin, describeSystemCertificate, replacedPinRefusal } from './system-certificate.ts';

export interface PgSystemCertificateStoreOptions {
  url: string;
  schema?: string | undefined;
  /** Apply pending migrations on connect (default true). */
  migrate?: boolean;
}

interface Row {
  system_id: string;
  serial: string;
  certificate_pem: string;
  not_before: string;
  not_after: string;
  issued_at: string;
  issued_by: string;
}

const COLUMNS = 'system_id, serial, certificate_pem, not_before, not_after, issued_at, issued_by';

function entryOf(row: Row): SystemCertificate {
  return {
    systemId: row.system_id,
    serial: row.serial,
    certificatePem: row.certificate_pem,
    notBefore: row.not_before,
    notAfter: row.not_after,
    issuedAt: row.issued_at,
    issuedBy: row.issued_by,
  };
}

export class PgSystemCertificateStore implements SystemCertificateStore {
  readonly kind = 'postgres';

  private constructor(private readonly pool: pg.Pool) {}

  static async connect(options: PgSystemCertificateStoreOptions): Promise<PgSystemCertificateStore> {
    // Two connections: a poll every quarter second, a pin now and then.
    const pool = await openStorePool({
      url: options.url,
      schema: options.schema,
      max: 2,
      applicationName: 'laender-gateway system certificates',
      migrate: options.migrate,
      table: 'pki_system_certificate',
    });
    return new PgSystemCertificateStore(pool);
  }

  pin(input: PinInput): Promise<PinResult> {
    return this.write(input, false);
  }

  pinIfAbsent(input: PinInput): Promise<PinResult> {
    return this.write(input, true);
  }

  private async write(input: PinInput, onlyIfAbsent: boolean): Promise<PinResult> {
    const certificate = certificateToPin(input);
    const entry = describeSystemCertificate(input.systemId, certificate, {
      at: (input.now ?? new Date()).toISOString(),
      by: input.by,
    });
    return inTransaction(this.pool, async (client) => {
      // Database-wide lock: the key names the schema, so schemas pin independently.
      await client.query({
        name: 'pki-pin-lock',
        text: 'SELECT pg_advisory_xact_lock(hashtext(current_schema() || $1))',
        values: [`:laender-gateway:pin:${input.systemId}`],
      });
      const current = (
        await client.query<Row>({
          name: 'pki-pin-current',
          text: `SELECT ${COLUMNS} FROM pki_system_certificate WHERE system_id = $1 ORDER BY seq DESC LIMIT 1`,
          values: [input.systemId],
        })
      ).rows[0];
      if (current && (current.serial === entry.serial || onlyIfAbsent)) {
        return { entry: entryOf(current), replaced: null, added: false };
      }
      const { rows: known } = await client.query<{ system_id: string }>({
        name: 'pki-pin-serial',
        text: 'SELECT system_id FROM pki_system_certificate WHERE serial = $1',
        values: [entry.serial],
      });
      if (known.length > 0) throw replacedPinRefusal(input.systemId, entry.serial);
      const { rows } = await client.query<Row>({
        name: 'pki-pin-add',
        text: `INSERT INTO pki_system_certificate (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
               RETURNING ${COLUMNS}`,
        values: [
          entry.systemId,
          entry.serial,
          entry.certificatePem,
          entry.notBefore,
          entry.notAfter,
          entry.issuedAt,
          input.by,
        ],
      });
      return { entry: entryOf(rows[0]!), replaced: current ? entryOf(current) : null, added: true };
    });
  }

  async current(systemId: string): Promise<SystemCertificate | null> {
    assertSystemId(systemId);
    const { rows } = await this.pool.query<Row>({
      name: 'pki-pin-get',
      text: `SELECT ${COLUMNS} FROM pki_system_certificate WHERE system_id = $1 ORDER BY seq DESC LIMIT 1`,
      values: [systemId],
    });
    return rows[0] ? entryOf(rows[0]) : null;
  }

  async pins(): Promise<SystemCertificate[]> {
    const { rows } = await this.pool.query<Row>({
      name: 'pki-pin-list',
      text: `SELECT DISTINCT ON (system_id) ${COLUMNS} FROM pki_system_certificate
             ORDER BY system_id, seq DESC`,
    });
    return rows.map(entryOf);
  }

  async history(systemId: string): Promise<SystemCertificate[]> {
    assertSystemId(systemId);
    const { rows } = await this.pool.query<Row>({
      name: 'pki-pin-history',
      text: `SELECT ${COLUMNS} FROM pki_system_certificate WHERE system_id = $1 ORDER BY seq`,
      values: [systemId],
    });
    return rows.map(entryOf);
  }

  async version(): Promise<string> {
    const { rows } = await this.pool.query<{ n: string; m: string }>({
      name: 'pki-pin-version',
      text: 'SELECT count(*)::text AS n, coalesce(max(seq), 0)::text AS m FROM pki_system_certificate',
    });
    return `${rows[0]!.n}:${rows[0]!.m}`;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
