/**
 * The embedded AuditStore: one SQLite file (WAL), better-sqlite3.
 *
 * - append() reads the chain head and inserts the new entries inside one `BEGIN IMMEDIATE`
 *   transaction, so several processes appending to the same file never fork a chain (the second
 *   writer waits for the lock, then reads the head the first one committed).
 * - Group commit: every append() issued in the same event-loop turn goes into one transaction (one
 *   fsync); each caller's promise resolves only after that transaction committed.
 * - Append-only: triggers abort any UPDATE or DELETE on the table. That is defence in depth only;
 *   someone with write access to the file can drop them. Tampering is caught by verifyChain.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { AuditEntry, AuditEventInput, AuditQuery, AuditStore, ChainHead } from '../ports/audit-store.ts';
import { chainEntry, GENESIS_HASH, normalizeEventInput } from './hash-chain.ts';

export interface SqliteAuditStoreOptions {
  /** Path of the database file (created with its directory if missing). */
  file: string;
  /** PRAGMA synchronous. FULL (default) fsyncs every commit; NORMAL may lose the last commits on power loss. */
  sync?: 'FULL' | 'NORMAL';
  /** How long a writer waits for another process's write lock. Default 10 s. */
  busyTimeoutMs?: number;
}

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_entries (
  chain           TEXT    NOT NULL,
  seq             INTEGER NOT NULL CHECK (seq >= 1),
  time            TEXT    NOT NULL,
  kind            TEXT    NOT NULL,
  actor           TEXT    NOT NULL,
  message_id      TEXT,
  sender          TEXT,
  receiver        TEXT,
  sender_system   TEXT,
  receiver_system TEXT,
  message_type    TEXT,
  digest          TEXT,
  detail          TEXT    NOT NULL,
  prev_hash       TEXT    NOT NULL,
  hash            TEXT    NOT NULL,
  PRIMARY KEY (chain, seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS audit_entries_by_message ON audit_entries (message_id, chain, seq);
CREATE INDEX IF NOT EXISTS audit_entries_by_kind ON audit_entries (kind, chain, seq);
CREATE TRIGGER IF NOT EXISTS audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END;
`;

const COLUMNS = `chain, seq, time, kind, actor, message_id AS messageId, sender, receiver,
  sender_system AS senderSystem, receiver_system AS receiverSystem, message_type AS messageType,
  digest, detail, prev_hash AS prevHash, hash`;

interface Pending {
  chain: string;
  events: AuditEventInput[];
  detailJson: string[];
  resolve: (entries: AuditEntry[]) => void;
  reject: (err: unknown) => void;
}

type Row = Omit<AuditEntry, 'detail'> & { detail: string | Record<string, unknown> };

export class SqliteAuditStore implements AuditStore {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly selectHead: Database.Statement<[string], { seq: number; hash: string }>;
  private readonly selectHeads: Database.Statement<[], ChainHead>;
  private readonly queries = new Map<string, Database.Statement>();
  private readonly commit: Database.Transaction<(batch: Pending[]) => AuditEntry[][]>;
  private queue: Pending[] = [];
  private scheduled = false;
  private closed = false;

  constructor(options: SqliteAuditStoreOptions) {
    if (options.file !== ':memory:') mkdirSync(dirname(options.file), { recursive: true });
    this.db = new Database(options.file, { timeout: options.busyTimeoutMs ?? 10_000 });
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${options.sync === 'NORMAL' ? 'NORMAL' : 'FULL'}`);
      const version = this.db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new Error(
          `audit database ${options.file} has schema version ${version}; this gateway knows ${SCHEMA_VERSION}`,
        );
      }
      this.db
        .transaction(() => {
          this.db.exec(SCHEMA);
          this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
        })
        .immediate();
    } catch (err) {
      this.db.close();
      throw err;
    }

    this.insert = this.db.prepare(
      `INSERT INTO audit_entries (chain, seq, time, kind, actor, message_id, sender, receiver, sender_system,
         receiver_system, message_type, digest, detail, prev_hash, hash)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.selectHead = this.db.prepare(
      'SELECT seq, hash FROM audit_entries WHERE chain = ? ORDER BY seq DESC LIMIT 1',
    );
    // Loose index scan over the distinct chains: O(chains · log n), not a full scan.
    this.selectHeads = this.db.prepare(
      `WITH RECURSIVE chains(chain) AS (
         SELECT (SELECT MIN(chain) FROM audit_entries)
         UNION ALL
         SELECT (SELECT MIN(chain) FROM audit_entries WHERE chain > chains.chain) FROM chains
         WHERE chains.chain IS NOT NULL
       )
       SELECT e.chain, e.seq, e.hash FROM chains
       JOIN audit_entries e ON e.chain = chains.chain
        AND e.seq = (SELECT MAX(seq) FROM audit_entries WHERE chain = chains.chain)
       ORDER BY e.chain`,
    );
    this.commit = this.db.transaction((batch: Pending[]) => {
      const heads = new Map<string, { seq: number; hash: string }>();
      const results: AuditEntry[][] = [];
      for (const pending of batch) {
        let head = heads.get(pending.chain) ??
          this.selectHead.get(pending.chain) ?? { seq: 0, hash: GENESIS_HASH };
        const entries: AuditEntry[] = [];
        for (let i = 0; i < pending.events.length; i++) {
          const entry = chainEntry(pending.events[i]!, pending.chain, head);
          this.insert.run(
            entry.chain,
            entry.seq,
            entry.time,
            entry.kind,
            entry.actor,
            entry.messageId,
            entry.sender,
            entry.receiver,
            entry.senderSystem,
            entry.receiverSystem,
            entry.messageType,
            entry.digest,
            pending.detailJson[i]!,
            entry.prevHash,
            entry.hash,
          );
          entries.push(entry);
          head = entry;
        }
        heads.set(pending.chain, head);
        results.push(entries);
      }
      return results;
    });
  }

  append(events: AuditEventInput[], chain = 'main'): Promise<AuditEntry[]> {
    if (this.closed) return Promise.reject(new Error('SqliteAuditStore is closed'));
    if (typeof chain !== 'string' || chain === '') {
      return Promise.reject(new TypeError('audit chain must be a non-empty string'));
    }
    const normalized: AuditEventInput[] = [];
    const detailJson: string[] = [];
    try {
      for (const event of events) {
        const n = normalizeEventInput(event);
        normalized.push(n.event);
        detailJson.push(n.detailJson);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    if (normalized.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ chain, events: normalized, detailJson, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits everything queued in one IMMEDIATE transaction, then settles the callers. */
  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    let results: AuditEntry[][];
    try {
      results = this.commit.immediate(batch);
    } catch (err) {
      for (const pending of batch) pending.reject(err);
      return;
    }
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i]!);
  }

  async query(query: AuditQuery): Promise<AuditEntry[]> {
    if (this.closed) throw new Error('SqliteAuditStore is closed');
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.messageId !== undefined) {
      where.push('message_id = ?');
      params.push(query.messageId);
    }
    if (query.kind !== undefined) {
      where.push('kind = ?');
      params.push(query.kind);
    }
    if (query.fromSeq !== undefined) {
      where.push('seq >= ?');
      params.push(query.fromSeq);
    }
    params.push(query.limit ?? -1);
    const key = where.join(' AND ');
    let statement = this.queries.get(key);
    if (statement === undefined) {
      statement = this.db.prepare(
        `SELECT ${COLUMNS} FROM audit_entries ${key === '' ? '' : `WHERE ${key}`} ORDER BY chain, seq LIMIT ?`,
      );
      this.queries.set(key, statement);
    }
    const rows = statement.all(...params) as Row[];
    for (const row of rows) row.detail = JSON.parse(row.detail as string) as Record<string, unknown>;
    return rows as AuditEntry[];
  }

  async heads(): Promise<ChainHead[]> {
    if (this.closed) throw new Error('SqliteAuditStore is closed');
    return this.selectHeads.all();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.db.close();
  }
}
