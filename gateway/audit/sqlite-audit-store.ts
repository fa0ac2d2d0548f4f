/**
 * The embedded AuditStore: one SQLite file (WAL), better-sqlite3.
 *
 * - append() reads the chain head and inserts the new entries inside one `BEGIN IMMEDIATE`
 *   transaction, so several processes appending to the same file never fork a chain (the second
 *   writer waits for the lock, then reads the head the first one committed).
 * - Group commit: every append() issued in the same event-loop turn goes into one transaction (one
 *   fsync); each caller's promise resolves only after that transaction committed and, with `sync:
 *   'FULL'`, was fsync'd — on the thread pool, not in the COMMIT on the event loop
 *   (gateway/db/wal-sync.ts). While the sync of the store's last commit runs, appends wait and
 *   commit together after it (gateway/db/commit-pacer.ts; test/bench/audit.ts messageArrivalsCost
 *   measures the effect).
 * - Idempotent writer: an event whose idempotencyKey its chain already holds is not written again;
 *   the caller gets the entry stored the first time.
 * - An append commit writes the entries only. The message search rows (audit_messages) live in the
 *   same file and are projected behind the appends (sqlite-message-projector.ts); every read of
 *   them, and every open, first catches the projection up. Checkpoints are written in their own
 *   transactions.
 * - Append-only: triggers abort any UPDATE or DELETE on entries and checkpoints. That is defence in
 *   depth only; someone with write access to the file can drop them. Tampering is caught by verify.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { CommitPacer } from '../db/commit-pacer.ts';
import { attachWalCheckpointer } from '../db/wal-checkpointer.ts';
import { type WalSync, walSyncFor } from '../db/wal-sync.ts';
import type {
  AuditCheckpoint,
  AuditEntry,
  AuditEventInput,
  AuditEventKind,
  AuditMessagePage,
  AuditMessageSearch,
  AuditMessageSummary,
  AuditQuery,
  AuditStore,
  ChainHead,
  CheckpointSigner,
  InclusionProof,
} from '../ports/audit-store.ts';
import { planCheckpoint, proofFrom, rangesOf, signCheckpoint } from './checkpoint.ts';
import { chainEntry, GENESIS_HASH } from './hash-chain.ts';
import { buildMessageSearch, searchPage } from './message-search.ts';
import {
  CHECKPOINT_INSERT_COLUMNS,
  type CheckpointRow,
  checkpointRow,
  ENTRY_INSERT_COLUMNS,
  ENTRY_SELECT_COLUMNS,
  type EntryRow,
  entryRow,
  type PendingAppend,
  pendingEvents,
  toCheckpoint,
  toEntry,
} from './rows.ts';
import { SqliteMessageProjector } from './sqlite-message-projector.ts';

export interface SqliteAuditStoreOptions {
  /** Path of the database file (created with its directory if missing). */
  file: string;
  /** PRAGMA synchronous. FULL (default) fsyncs every commit; NORMAL may lose the last commits on power loss. */
  sync?: 'FULL' | 'NORMAL';
  /** How long a writer waits for another process's write lock. Default 10 s. */
  busyTimeoutMs?: number;
  /** How long after an append the search rows are brought up to date in the background. Default 500 ms. */
  projectionDelayMs?: number;
}

const SCHEMA_VERSION = 3;

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
CREATE TRIGGER IF NOT EXISTS audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END;
`;

/** Version 2: idempotency keys, signed checkpoints, the message search rows. */
const SCHEMA_V2 = `
CREATE UNIQUE INDEX IF NOT EXISTS audit_entries_idempotency ON audit_entries (chain, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS audit_checkpoints (
  id        INTEGER PRIMARY KEY CHECK (id >= 1),
  time      TEXT NOT NULL,
  hash      TEXT NOT NULL,
  body      TEXT NOT NULL,
  signature TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS audit_checkpoint_heads (
  checkpoint_id INTEGER NOT NULL,
  chain         TEXT    NOT NULL,
  seq           INTEGER NOT NULL,
  PRIMARY KEY (checkpoint_id, chain)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS audit_checkpoint_heads_by_chain ON audit_checkpoint_heads (chain, seq, checkpoint_id);
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TABLE IF NOT EXISTS audit_messages (
  message_id      TEXT    PRIMARY KEY,
  first_time      TEXT    NOT NULL,
  last_time       TEXT    NOT NULL,
  status          TEXT    NOT NULL,
  progress_rank   INTEGER NOT NULL,
  progress_status TEXT    NOT NULL,
  failure_status  TEXT,
  message_type    TEXT,
  sender          TEXT,
  receiver        TEXT,
  sender_system   TEXT,
  receiver_system TEXT,
  digest          TEXT,
  events          INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS audit_messages_by_time ON audit_messages (first_time, message_id);
CREATE INDEX IF NOT EXISTS audit_messages_by_sender ON audit_messages (sender, first_time, message_id);
CREATE INDEX IF NOT EXISTS audit_messages_by_receiver ON audit_messages (receiver, first_time, message_id);
CREATE INDEX IF NOT EXISTS audit_messages_by_sender_system ON audit_messages (sender_system, first_time, message_id);
CREATE INDEX IF NOT EXISTS audit_messages_by_receiver_system ON audit_messages (receiver_system, first_time, message_id);
CREATE INDEX IF NOT EXISTS audit_messages_by_type ON audit_messages (message_type, first_time, message_id);
CREATE INDEX IF NOT EXISTS audit_messages_by_status ON audit_messages (status, first_time, message_id);
`;

/**
 * Version 3: the search rows are projected behind the appends; audit_projection holds how far, per
 * chain (sqlite-message-projector.ts). The (kind, chain, seq) index is gone: every insert paid a
 * page write at one of kinds × chains insertion points, while the only kind queries are bounded
 * by the message index (a message's trail) or by the primary key (a chain's recent window, the
 * restart catch-up, gateway/callbacks/catch-up.ts); a query by kind alone scans the table.
 */
const SCHEMA_V3 = `
CREATE TABLE IF NOT EXISTS audit_projection (
  chain TEXT    PRIMARY KEY,
  seq   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
DROP INDEX IF EXISTS audit_entries_by_kind;
`;

/** The head of every chain. A loose index scan over the distinct chains: O(chains · log n), not a full scan. */
const SELECT_HEADS = `WITH RECURSIVE chains(chain) AS (
    SELECT (SELECT MIN(chain) FROM audit_entries)
    UNION ALL
    SELECT (SELECT MIN(chain) FROM audit_entries WHERE chain > chains.chain) FROM chains
    WHERE chains.chain IS NOT NULL
  )
  SELECT e.chain, e.seq, e.hash FROM chains
  JOIN audit_entries e ON e.chain = chains.chain
   AND e.seq = (SELECT MAX(seq) FROM audit_entries WHERE chain = chains.chain)
  ORDER BY e.chain`;

export class SqliteAuditStore implements AuditStore {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly selectHead: Database.Statement<[string], { seq: number; hash: string }>;
  private readonly selectHeads: Database.Statement<[], ChainHead>;
  private readonly selectByKey: Database.Statement<[string, string], EntryRow>;
  private readonly selectLeaves: Database.Statement<[string, number, number], { hash: string }>;
  private readonly selectEventExists: Database.Statement<[string, AuditEventKind], number>;
  private readonly queries = new Map<string, Database.Statement>();
  private readonly commit: Database.Transaction<
    (batch: PendingAppend[], fresh: AuditEntry[]) => AuditEntry[][]
  >;
  private readonly projector: SqliteMessageProjector;
  private readonly detachCheckpointer: () => Promise<void>;
  /** The fsync of each commit, off the event loop; undefined with `sync: 'NORMAL'` (no fsync). */
  private readonly walSync: WalSync | undefined;
  private queue: PendingAppend[] = [];
  private readonly pacer = new CommitPacer(
    () => this.flush(),
    () => this.queue.length > 0,
  );
  private closed = false;

  constructor(options: SqliteAuditStoreOptions) {
    mkdirSync(dirname(options.file), { recursive: true });
    this.db = new Database(options.file, { timeout: options.busyTimeoutMs ?? 10_000 });
    try {
      this.db.pragma('journal_mode = WAL');
      this.walSync = walSyncFor(this.db, options.file, options.sync === 'NORMAL' ? 'NORMAL' : 'FULL');
      const version = this.db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new Error(
          `audit database ${options.file} has schema version ${version}; this gateway knows ${SCHEMA_VERSION}`,
        );
      }
      this.db
        .transaction(() => {
          this.db.exec(SCHEMA);
          const columns = this.db.pragma('table_info(audit_entries)') as Array<{ name: string }>;
          if (!columns.some((c) => c.name === 'idempotency_key')) {
            this.db.exec('ALTER TABLE audit_entries ADD COLUMN idempotency_key TEXT');
          }
          const exists = (table: string) =>
            this.db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(table) !==
            undefined;
          // A version 2 file has every entry in its search rows already (written in the appends).
          const projected = exists('audit_messages') && !exists('audit_projection');
          this.db.exec(SCHEMA_V2);
          this.db.exec(SCHEMA_V3);
          // The fold's replay generations (message-summary.ts), added in place to files made before them.
          const searchColumns = this.db.pragma('table_info(audit_messages)') as Array<{ name: string }>;
          for (const column of ['replay_generation', 'dead_letter_generation']) {
            if (!searchColumns.some((c) => c.name === column))
              this.db.exec(`ALTER TABLE audit_messages ADD COLUMN ${column} INTEGER`);
          }
          if (projected) {
            this.db.exec(
              `INSERT INTO audit_projection (chain, seq) SELECT chain, seq FROM (${SELECT_HEADS})`,
            );
          }
          this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
        })
        .immediate();
    } catch (err) {
      this.db.close();
      throw err;
    }

    // A stored idempotency key is the one conflict that is not an error: the insert writes nothing,
    // and only then is the stored entry looked up (replays are rare; a lookup per keyed event is not).
    this.insert = this.db.prepare(
      `INSERT INTO audit_entries (${ENTRY_INSERT_COLUMNS.join(', ')})
       VALUES (${ENTRY_INSERT_COLUMNS.map(() => '?').join(', ')})
       ON CONFLICT (chain, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING`,
    );
    this.selectHead = this.db.prepare(
      'SELECT seq, hash FROM audit_entries WHERE chain = ? ORDER BY seq DESC LIMIT 1',
    );
    this.selectHeads = this.db.prepare(SELECT_HEADS);
    this.selectByKey = this.db.prepare(
      `SELECT ${ENTRY_SELECT_COLUMNS} FROM audit_entries WHERE chain = ? AND idempotency_key = ?`,
    );
    this.selectLeaves = this.db.prepare(
      'SELECT hash FROM audit_entries WHERE chain = ? AND seq > ? AND seq <= ? ORDER BY seq',
    );
    // audit_entries_by_message finds the message's few entries; the kind is checked on those.
    this.selectEventExists = this.db
      .prepare<[string, AuditEventKind], number>(
        'SELECT 1 FROM audit_entries WHERE message_id = ? AND kind = ? LIMIT 1',
      )
      .pluck();
    this.commit = this.db.transaction((batch: PendingAppend[], fresh: AuditEntry[]) => {
      const heads = new Map<string, { seq: number; hash: string }>();
      const results: AuditEntry[][] = [];
      for (const pending of batch) {
        let head = heads.get(pending.chain) ??
          this.selectHead.get(pending.chain) ?? { seq: 0, hash: GENESIS_HASH };
        const entries: AuditEntry[] = [];
        for (let i = 0; i < pending.events.length; i++) {
          const key = pending.keys[i]!;
          const entry = chainEntry(pending.events[i]!, pending.chain, head);
          // An array binds as the anonymous parameters, in order (no spread of 16 arguments per entry).
          if (this.insert.run(entryRow(entry, pending.detailJson[i]!, key)).changes === 0) {
            entries.push(toEntry(this.selectByKey.get(pending.chain, key!)!));
            continue;
          }
          entries.push(entry);
          fresh.push(entry);
          head = entry;
        }
        heads.set(pending.chain, head);
        results.push(entries);
      }
      return results;
    });
    this.projector = new SqliteMessageProjector(this.db, {
      heads: () => this.selectHeads.all(),
      ...(options.projectionDelayMs !== undefined ? { delayMs: options.projectionDelayMs } : {}),
    });
    try {
      // What a crash left between an append and its projection (or a version 1 file: all of it).
      this.projector.catchUp();
    } catch (err) {
      this.projector.close();
      this.db.close();
      throw err;
    }
    // The busiest writer of all: its checkpoints must not run inside an append's commit.
    this.detachCheckpointer = attachWalCheckpointer(options.file, [this.db]);
  }

  append(events: AuditEventInput[], chain = 'main'): Promise<AuditEntry[]> {
    if (this.closed) return Promise.reject(new Error('SqliteAuditStore is closed'));
    let pending: Omit<PendingAppend, 'resolve' | 'reject'>;
    try {
      this.walSync?.assertWritable();
      pending = pendingEvents(events, chain);
    } catch (err) {
      return Promise.reject(err);
    }
    if (pending.events.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ ...pending, resolve, reject });
      this.pacer.queued();
    });
  }

  /** Commits everything queued in one IMMEDIATE transaction, then settles the callers once it is durable. */
  private flush(): void {
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    let results: AuditEntry[][];
    const fresh: AuditEntry[] = [];
    try {
      this.walSync?.assertWritable();
      results = this.commit.immediate(batch, fresh);
    } catch (err) {
      for (const pending of batch) pending.reject(err);
      return;
    }
    // The search rows of committed entries are derived (rebuilt after a crash): no need to wait.
    this.projector.remember(fresh);
    const settle = () => {
      for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i]!);
    };
    this.pacer.settleWhenDurable(this.walSync, settle, (err: unknown) => {
      for (const pending of batch) pending.reject(err);
    });
  }

  private statement(sql: string): Database.Statement {
    let statement = this.queries.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.queries.set(sql, statement);
    }
    return statement;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('SqliteAuditStore is closed');
  }

  async query(query: AuditQuery): Promise<AuditEntry[]> {
    this.assertOpen();
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.messageId !== undefined) {
      where.push('message_id = ?');
      params.push(query.messageId);
    }
    if (query.kind !== undefined) {
      // No index has the kind (see SCHEMA_V3): it filters what the message or chain range yields.
      where.push('kind = ?');
      params.push(query.kind);
    }
    if (query.chain !== undefined) {
      where.push('chain = ?');
      params.push(query.chain);
    }
    if (query.fromSeq !== undefined) {
      where.push('seq >= ?');
      params.push(query.fromSeq);
    }
    if (query.toSeq !== undefined) {
      where.push('seq <= ?');
      params.push(query.toSeq);
    }
    params.push(query.limit ?? -1);
    const key = where.join(' AND ');
    const statement = this.statement(
      `SELECT ${ENTRY_SELECT_COLUMNS} FROM audit_entries ${key === '' ? '' : `WHERE ${key}`} ORDER BY chain, seq LIMIT ?`,
    );
    return (statement.all(...params) as EntryRow[]).map(toEntry);
  }

  async hasEvent(messageId: string, kind: AuditEventKind): Promise<boolean> {
    this.assertOpen();
    return this.selectEventExists.get(messageId, kind) !== undefined;
  }

  async heads(): Promise<ChainHead[]> {
    this.assertOpen();
    return this.selectHeads.all();
  }

  async createCheckpoint(
    signer: CheckpointSigner,
    time = new Date().toISOString(),
  ): Promise<AuditCheckpoint | null> {
    this.assertOpen();
    this.walSync?.assertWritable();
    const created = this.db
      .transaction(() => {
        const previous = this.latestCheckpointSync();
        const plan = planCheckpoint(previous, this.selectHeads.all());
        if (!plan) return null;
        const checkpoint = signCheckpoint(plan, this.leavesOf(plan.ranges), signer, time);
        this.db
          .prepare(`INSERT INTO audit_checkpoints (${CHECKPOINT_INSERT_COLUMNS}) VALUES (?, ?, ?, ?, ?)`)
          .run(...checkpointRow(checkpoint));
        const insertHead = this.db.prepare(
          'INSERT INTO audit_checkpoint_heads (checkpoint_id, chain, seq) VALUES (?, ?, ?)',
        );
        for (const range of plan.ranges) insertHead.run(checkpoint.id, range.chain, range.toSeq);
        return checkpoint;
      })
      .immediate();
    if (created) await this.walSync?.afterCommit();
    return created;
  }

  private leavesOf(ranges: { chain: string; fromSeq: number; toSeq: number }[]): Map<string, string[]> {
    const leaves = new Map<string, string[]>();
    for (const r of ranges) {
      leaves.set(
        r.chain,
        this.selectLeaves.all(r.chain, r.fromSeq, r.toSeq).map((row) => row.hash),
      );
    }
    return leaves;
  }

  private latestCheckpointSync(): AuditCheckpoint | null {
    const row = this.statement(
      'SELECT body, signature FROM audit_checkpoints ORDER BY id DESC LIMIT 1',
    ).get() as CheckpointRow | undefined;
    return row ? toCheckpoint(row) : null;
  }

  async checkpoints(query: { afterId?: number; limit?: number } = {}): Promise<AuditCheckpoint[]> {
    this.assertOpen();
    const rows = this.statement(
      'SELECT body, signature FROM audit_checkpoints WHERE id > ? ORDER BY id LIMIT ?',
    ).all(query.afterId ?? 0, query.limit ?? -1) as CheckpointRow[];
    return rows.map(toCheckpoint);
  }

  async latestCheckpoint(): Promise<AuditCheckpoint | null> {
    this.assertOpen();
    return this.latestCheckpointSync();
  }

  async inclusionProof(chain: string, seq: number): Promise<InclusionProof | null> {
    this.assertOpen();
    const read = this.db.transaction(() => {
      const covering = this.statement(
        `SELECT c.body, c.signature FROM audit_checkpoint_heads h JOIN audit_checkpoints c ON c.id = h.checkpoint_id
         WHERE h.chain = ? AND h.seq >= ? ORDER BY h.seq, h.checkpoint_id LIMIT 1`,
      ).get(chain, seq) as CheckpointRow | undefined;
      if (!covering) return null;
      const checkpoint = toCheckpoint(covering);
      return proofFrom(checkpoint, this.leavesOf(rangesOf(checkpoint)), chain, seq);
    });
    return read.deferred();
  }

  async searchMessages(search: AuditMessageSearch): Promise<AuditMessagePage> {
    this.assertOpen();
    const built = buildMessageSearch(search, () => '?');
    if (built.empty) return { items: [] };
    // The rows are projected behind the appends: bring them up to what is committed now.
    this.projector.catchUp();
    const rows = this.statement(built.sql).all(...built.params) as AuditMessageSummary[];
    return searchPage(rows, built.limit);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    try {
      // Leaves the file projected, so that the next process to open it has nothing to repair.
      this.projector.catchUp();
    } finally {
      this.projector.close();
      // The appends flushed above are acknowledged once synced.
      await this.walSync?.close();
      await this.detachCheckpointer();
      this.db.close();
    }
  }
}
