/**
 * The embedded DocumentArchive: <dataDir>/archive.sqlite, encrypted as archive-crypto.ts describes.
 * secure_delete overwrites freed pages, so shredded ciphertext and destroyed keys do not linger in
 * the file.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteGroupCommit } from '../../db/sqlite-group-commit.ts';
import { attachWalCheckpointer } from '../../db/wal-checkpointer.ts';
import { type WalSync, walSyncFor } from '../../db/wal-sync.ts';
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

const SCHEMA = `
CREATE TABLE IF NOT EXISTS archive_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS archive_keys (
  expires_on  TEXT PRIMARY KEY,
  wrapped_key BLOB NOT NULL,
  created_at  TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS archive_documents (
  message_id   TEXT NOT NULL,
  digest       TEXT NOT NULL,
  content_type TEXT NOT NULL,
  archived_at  TEXT NOT NULL,
  expires_on   TEXT NOT NULL,
  ciphertext   BLOB,
  shredded_at  TEXT,
  PRIMARY KEY (message_id, digest)
) STRICT;
CREATE INDEX IF NOT EXISTS archive_documents_by_expiry ON archive_documents (expires_on) WHERE ciphertext IS NOT NULL;
`;

/** A day's key as unwrapped here. */
interface DayKey {
  wrapped: Buffer;
  key: Buffer;
  /**
   * Known to be in the file: a put that used it committed. Until then (the key may have been
   * created in a batch that then failed) puts read the day's row again to check it is this key.
   */
  committed: boolean;
}

export class SqliteDocumentArchive implements DocumentArchive {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly master: Buffer;
  private readonly dayKeys = new Map<string, DayKey>();
  /** Every document of a delivery passes here: one fsync'd commit per event-loop turn, not per document. */
  private readonly writes: SqliteGroupCommit;
  /** The fsync of each commit, off the event loop; undefined with `sync: 'NORMAL'` (no fsync). */
  private readonly walSync: WalSync | undefined;
  /** Prepared once: compiling the SQL of each statement per document cost more than running it. */
  private readonly stmts;
  /** Documents are most of what the archive writes: their checkpoints run off the event loop. */
  private readonly detachCheckpointer: () => Promise<void>;

  constructor(options: { file: string; passphrase: string; sync?: 'FULL' | 'NORMAL' }) {
    mkdirSync(dirname(options.file), { recursive: true });
    this.db = new Database(options.file, { timeout: 10_000 });
    try {
      this.db.pragma('journal_mode = WAL');
      this.walSync = walSyncFor(this.db, options.file, options.sync ?? 'FULL');
      this.db.pragma('secure_delete = ON');
      this.db.exec(SCHEMA);
      const meta = this.db
        .transaction(() => {
          const get = (name: string) =>
            (
              this.db.prepare('SELECT value FROM archive_meta WHERE name = ?').get(name) as
                | { value: string }
                | undefined
            )?.value;
          const salt = get('salt');
          if (salt !== undefined) return { salt, check: get('key-check')! };
          const fresh = newSalt();
          const check = keyCheck(deriveMasterKey(options.passphrase, fresh));
          const insert = this.db.prepare('INSERT INTO archive_meta (name, value) VALUES (?, ?)');
          insert.run('salt', fresh);
          insert.run('key-check', check);
          return { salt: fresh, check };
        })
        .immediate();
      this.master = deriveMasterKey(options.passphrase, meta.salt);
      assertKeyCheck(this.master, meta.check);
      this.writes = new SqliteGroupCommit(this.db, this.walSync);
      this.stmts = {
        dayKey: this.db
          .prepare<[string], Buffer>('SELECT wrapped_key FROM archive_keys WHERE expires_on = ?')
          .pluck(),
        insertDayKey: this.db.prepare(
          'INSERT INTO archive_keys (expires_on, wrapped_key, created_at) VALUES (?, ?, ?)',
        ),
        // A version already archived (or shredded) stays as it is: changes 0.
        insert: this.db.prepare(
          `INSERT INTO archive_documents (${DOCUMENT_INSERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (message_id, digest) DO NOTHING`,
        ),
        byMessage: this.db.prepare<[string], DocumentRow>(
          'SELECT * FROM archive_documents WHERE message_id = ? ORDER BY archived_at, digest',
        ),
        shredKeys: this.db.prepare('DELETE FROM archive_keys WHERE expires_on < ?'),
        shredDocuments: this.db.prepare(
          'UPDATE archive_documents SET ciphertext = NULL, shredded_at = ? WHERE expires_on < ? AND ciphertext IS NOT NULL',
        ),
      };
      this.detachCheckpointer = attachWalCheckpointer(options.file, [this.db]);
    } catch (error) {
      this.db.close();
      throw error;
    }
  }

  /** The key of a day as the file holds it, created if the day has none; undefined if it was shredded. */
  private dayKey(expiresOn: string, create: boolean): DayKey | undefined {
    let wrapped = this.stmts.dayKey.get(expiresOn);
    if (!wrapped && create) {
      wrapped = newWrappedDayKey(this.master, expiresOn);
      this.stmts.insertDayKey.run(expiresOn, wrapped, new Date().toISOString());
    }
    if (!wrapped) return undefined;
    const cached = this.dayKeys.get(expiresOn);
    if (cached?.wrapped.equals(wrapped)) return cached;
    const fresh = { wrapped, key: unwrapDayKey(this.master, wrapped, expiresOn), committed: false };
    this.dayKeys.set(expiresOn, fresh);
    return fresh;
  }

  async put(d: ArchiveDocumentInput): Promise<{ stored: boolean; expiresOn: string }> {
    assertDigest(d);
    const expiresOn = expiryDay(d.archivedAt, d.retentionDays);
    if (expiresOn < dayOf(new Date())) return { stored: false, expiresOn };
    const known = this.dayKeys.get(expiresOn);
    if (known?.committed) {
      // Sealed now, right after the digest check: the bytes checked are the bytes sealed.
      const row = documentRow(d, expiresOn, known.key);
      const stored = await this.writes.run(() => this.stmts.insert.run(...row).changes === 1);
      return { stored, expiresOn };
    }
    // The day's key is read (or made) in the transaction, and the document sealed there: a copy, as
    // the caller's bytes may change before that commit.
    const copy = { ...d, document: Buffer.from(d.document) };
    let used: DayKey | undefined;
    const stored = await this.writes.run(() => {
      used = this.dayKey(expiresOn, true)!;
      return this.stmts.insert.run(...documentRow(copy, expiresOn, used.key)).changes === 1;
    });
    // That transaction committed, and the key with it (created there or read there): later puts of
    // its day need not read it back. Day keys are written once and only shredded after their day,
    // and puts for past days are refused above.
    if (used) used.committed = true;
    return { stored, expiresOn };
  }

  async get(messageId: string): Promise<ArchivedDocument[]> {
    const rows = this.stmts.byMessage.all(messageId);
    return rows.map((row) =>
      toArchivedDocument(row, row.ciphertext ? this.dayKey(row.expires_on, false)?.key : undefined),
    );
  }

  async shred(now = new Date()): Promise<{ keys: number; documents: number }> {
    const today = dayOf(now);
    this.walSync?.assertWritable();
    const shredded = this.db
      .transaction(() => {
        const keys = this.stmts.shredKeys.run(today).changes;
        const documents = this.stmts.shredDocuments.run(now.toISOString(), today).changes;
        for (const day of this.dayKeys.keys()) if (day < today) this.dayKeys.delete(day);
        return { keys, documents };
      })
      .immediate();
    await this.walSync?.afterCommit();
    return shredded;
  }

  async close(): Promise<void> {
    // What was handed over is committed, and synced, before the file closes.
    this.writes.flush();
    await this.walSync?.close();
    this.dayKeys.clear();
    await this.detachCheckpointer();
    this.db.close();
  }
}
