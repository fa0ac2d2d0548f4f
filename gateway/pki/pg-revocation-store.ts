/**
 * The revocations in PostgreSQL (deploy/sql/014_pki_revocations.sql), shared by every replica and
 * by `gw pki revoke` run in any of them. Readers poll version() — count and max(seq) of an
 * append-only table, one index-backed statement — and read the list only when it changed.
 *
 * The version is the count as well as the highest seq: identity values are handed out at insert
 * and may commit out of order, so a row committed after a higher one leaves max(seq) unchanged; the
 * count, with rows never deleted, still grows.
 */
import type pg from 'pg';
import { openStorePool } from '../db/migrate.ts';
import type { RevocationStore, RevokeInput } from '../ports/revocation-store.ts';
import type { RevocationReason } from './crl.ts';
import { normalizeSerial, type RevokedEntry } from './revocation.ts';

export interface PgRevocationStoreOptions {
  url: string;
  schema?: string | undefined;
  /** Apply pending migrations on connect (default true). */
  migrate?: boolean;
}

interface Row {
  serial: string;
  revoked_at: string;
  reason: RevocationReason;
  subject: string | null;
  revoked_by: string;
}

const COLUMNS = 'serial, revoked_at, reason, subject, revoked_by';

function entryOf(row: Row): RevokedEntry {
  return {
    serial: row.serial,
    revokedAt: row.revoked_at,
    reason: row.reason,
    ...(row.subject !== null ? { subject: row.subject } : {}),
    revokedBy: row.revoked_by,
  };
}

export class PgRevocationStore implements RevocationStore {
  readonly kind = 'postgres';

  private constructor(private readonly pool: pg.Pool) {}

  static async connect(options: PgRevocationStoreOptions): Promise<PgRevocationStore> {
    // Two connections: a poll every quarter second, a revocation now and then.
    const pool = await openStorePool({
      url: options.url,
      schema: options.schema,
      max: 2,
      applicationName: 'laender-gateway revocations',
      migrate: options.migrate,
      table: 'pki_revocation',
    });
    return new PgRevocationStore(pool);
  }

  async revoke(input: RevokeInput): Promise<{ entry: RevokedEntry; added: boolean }> {
    const serial = normalizeSerial(input.serial);
    const inserted = await this.pool.query<Row>({
      name: 'pki-revocation-add',
      text: `INSERT INTO pki_revocation (serial, revoked_at, reason, subject, revoked_by)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (serial) DO NOTHING RETURNING ${COLUMNS}`,
      values: [
        serial,
        (input.now ?? new Date()).toISOString(),
        input.reason,
        input.subject ?? null,
        input.by,
      ],
    });
    if (inserted.rows[0]) return { entry: entryOf(inserted.rows[0]), added: true };
    // A statement of its own: its snapshot sees the row of a concurrent revocation that won.
    const { rows } = await this.pool.query<Row>({
      name: 'pki-revocation-get',
      text: `SELECT ${COLUMNS} FROM pki_revocation WHERE serial = $1`,
      values: [serial],
    });
    return { entry: entryOf(rows[0]!), added: false };
  }

  async version(): Promise<string> {
    const { rows } = await this.pool.query<{ n: string; m: string }>({
      name: 'pki-revocation-version',
      text: 'SELECT count(*)::text AS n, coalesce(max(seq), 0)::text AS m FROM pki_revocation',
    });
    return `${rows[0]!.n}:${rows[0]!.m}`;
  }

  async list(): Promise<RevokedEntry[]> {
    const { rows } = await this.pool.query<Row>({
      name: 'pki-revocation-list',
      text: `SELECT ${COLUMNS} FROM pki_revocation ORDER BY seq`,
    });
    return rows.map(entryOf);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
