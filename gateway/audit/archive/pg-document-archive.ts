/**
 * The DocumentArchive in PostgreSQL (deploy/sql/003_archive.sql), shared by N gateway processes;
 * encrypted as archive-crypto.ts describes. After shred(), VACUUM reclaims the dead row versions
 * that still hold the old ciphertext and wrapped keys (autovacuum does it in time).
 */
import type pg from 'pg';
import { migrate } from '../../db/migrate.ts';
import { createPgPool, inTransaction } from '../../db/postgres.ts';
import type {
  ArchiveDocumentInput,
  ArchivedDocument,
  DocumentArchive,
} from '../../ports/document-archive.ts';
import {
  assertKeyCheck,
  dayOf,
  deriveMasterKey,
  expiryDay,
  keyCheck,
  newSalt,
  newWrappedDayKey,
  unwrapDayKey,
} from './archive-crypto.ts';
import {
  assertDigest,
  DOCUMENT_INSERT_COLUMNS,
  type DocumentRow,
  documentRow,
  toArchivedDocument,
} from './document-rows.ts';

export class PgDocumentArchive implements DocumentArchive {
  readonly kind = 'postgres';
  private readonly dayKeys = new Map<string, { wrapped: Buffer; key: Buffer }>();

  private constructor(
    private readonly pool: pg.Pool,
    private readonly master: Buffer,
  ) {}

  static async connect(options: {
    url: string;
    schema?: string | undefined;
    passphrase: string;
    migrate?: boolean;
  }): Promise<PgDocumentArchive> {
    const pool = createPgPool({
      url: options.url,
      schema: options.schema,
      max: 2,
      applicationName: 'laender-gateway archive',
    });
    try {
      if (options.migrate !== false) await migrate(pool, { schema: options.schema });
      // Whichever process comes first picks the salt; the others read it.
      await pool.query(`INSERT INTO archive_meta (name, value) VALUES ('salt', $1) ON CONFLICT DO NOTHING`, [
        newSalt(),
      ]);
      const salt = (await pool.query<{ value: string }>(`SELECT value FROM archive_meta WHERE name = 'salt'`))
        .rows[0]!.value;
      const master = deriveMasterKey(options.passphrase, salt);
      await pool.query(
        `INSERT INTO archive_meta (name, value) VALUES ('key-check', $1) ON CONFLICT DO NOTHING`,
        [keyCheck(master)],
      );
      const check = (
        await pool.query<{ value: string }>(`SELECT value FROM archive_meta WHERE name = 'key-check'`)
      ).rows[0]!.value;
      assertKeyCheck(master, check);
      return new PgDocumentArchive(pool, master);
    } catch (error) {
      await pool.end();
      throw error;
    }
  }

  private unwrap(expiresOn: string, wrapped: Buffer): Buffer {
    const cached = this.dayKeys.get(expiresOn);
    if (cached?.wrapped.equals(wrapped)) return cached.key;
    const key = unwrapDayKey(this.master, wrapped, expiresOn);
    this.dayKeys.set(expiresOn, { wrapped, key });
    return key;
  }

  async put(d: ArchiveDocumentInput): Promise<{ stored: boolean; expiresOn: string }> {
    assertDigest(d);
    const expiresOn = expiryDay(d.archivedAt, d.retentionDays);
    if (expiresOn < dayOf(new Date())) return { stored: false, expiresOn };
    const stored = await inTransaction(this.pool, async (client) => {
      await client.query(
        'INSERT INTO archive_keys (expires_on, wrapped_key, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
        [expiresOn, newWrappedDayKey(this.master, expiresOn), new Date().toISOString()],
      );
      // FOR SHARE: a concurrent shred() cannot destroy the key between reading it and using it.
      const wrapped = (
        await client.query<{ wrapped_key: Buffer }>(
          'SELECT wrapped_key FROM archive_keys WHERE expires_on = $1 FOR SHARE',
          [expiresOn],
        )
      ).rows[0]!.wrapped_key;
      const key = this.unwrap(expiresOn, wrapped);
      const result = await client.query(
        `INSERT INTO archive_documents (${DOCUMENT_INSERT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT DO NOTHING`,
        documentRow(d, expiresOn, key),
      );
      return result.rowCount === 1;
    });
    return { stored, expiresOn };
  }

  async get(messageId: string): Promise<ArchivedDocument[]> {
    const rows = (
      await this.pool.query<DocumentRow & { wrapped_key: Buffer | null }>(
        `SELECT d.*, k.wrapped_key FROM archive_documents d LEFT JOIN archive_keys k ON k.expires_on = d.expires_on
         WHERE d.message_id = $1 ORDER BY d.archived_at, d.digest`,
        [messageId],
      )
    ).rows;
    return rows.map((row) =>
      toArchivedDocument(
        row,
        row.ciphertext && row.wrapped_key ? this.unwrap(row.expires_on, row.wrapped_key) : undefined,
      ),
    );
  }

  async shred(now = new Date()): Promise<{ keys: number; documents: number }> {
    const today = dayOf(now);
    const result = await inTransaction(this.pool, async (client) => {
      const keys = await client.query('DELETE FROM archive_keys WHERE expires_on < $1', [today]);
      const documents = await client.query(
        'UPDATE archive_documents SET ciphertext = NULL, shredded_at = $1 WHERE expires_on < $2 AND ciphertext IS NOT NULL',
        [now.toISOString(), today],
      );
      return { keys: keys.rowCount ?? 0, documents: documents.rowCount ?? 0 };
    });
    for (const day of this.dayKeys.keys()) if (day < today) this.dayKeys.delete(day);
    return result;
  }

  async close(): Promise<void> {
    this.dayKeys.clear();
    await this.pool.end();
  }
}
