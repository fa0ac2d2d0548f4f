/**
 * The distributed AuditStore: PostgreSQL (pg), for N gateway processes sharing one database.
 * Schema: deploy/sql/001_audit.sql, applied by connect() (gateway/db/migrate.ts).
 *
 * - One append transaction per batch: lock the head rows of the batch's chains (audit_chains,
 *   FOR UPDATE, in chain order so two writers cannot deadlock), compute seqs and hashes, insert all
 *   entries with one INSERT … SELECT FROM unnest(…), move the heads, update the search rows, COMMIT.
 *   Appends to one chain from many processes serialise on its head row; different chains do not
 *   wait for each other.
 * - Group commit: calls arriving while a batch commits form the next batch (up to maxBatchEvents), so
 *   throughput grows with load while each caller still resolves only after its COMMIT (with the
 *   server's synchronous_commit, an acknowledged batch survives a crash).
 * - Idempotent writer as in the SQLite store. The search rows are projected behind the appends
 *   (pg-message-projector.ts), not inside them: appends stay lean, the events of one message fold
 *   into one row update, and every search first catches the projection up.
 */
import type pg from 'pg';
import { migrate } from '../db/migrate.ts';
import {
  createPgPool,
  inTransaction,
  intArrayLiteral,
  isRetryable,
  textArrayLiteral,
} from '../db/postgres.ts';
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
import { type CheckpointRange, planCheckpoint, proofFrom, rangesOf, signCheckpoint } from './checkpoint.ts';
import { chainEntry, GENESIS_HASH } from './hash-chain.ts';
import { buildMessageSearch, searchPage } from './message-search.ts';
import { PgMessageProjector } from './pg-message-projector.ts';
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
  scopedKey,
  toCheckpoint,
  toEntry,
} from './rows.ts';

export interface PgAuditStoreOptions {
  /** postgres://… */
  url: string;
  /** Schema of the tables (created and migrated by connect()). Default: the server's search_path. */
  schema?: string | undefined;
  /** Apply pending migrations on connect (default true; `gw db migrate` does it explicitly). */
  migrate?: boolean;
  /** Most events per append transaction. Default 5000. */
  maxBatchEvents?: number;
  /** Connections. Default 4. */
  poolSize?: number;
  /** Shown in pg_stat_activity. Default 'laender-gateway audit'. */
  applicationName?: string;
}

const SQL = {
  lockChains:
    'SELECT chain, seq, hash FROM audit_chains WHERE chain = ANY($1::text[]) ORDER BY chain FOR UPDATE',
  newChains: `INSERT INTO audit_chains (chain, seq, hash) SELECT c, 0, $2 FROM unnest($1::text[]) AS c
    ORDER BY c ON CONFLICT DO NOTHING`,
  byKeys: `SELECT ${ENTRY_SELECT_COLUMNS.replace(/(^|, )(chain|seq|hash)\b/g, '$1e.$2')}, e.idempotency_key AS "idempotencyKey"
    FROM audit_entries e JOIN unnest($1::text[], $2::text[]) AS k(chain, key)
    ON e.chain = k.chain AND e.idempotency_key = k.key`,
  insert: `INSERT INTO audit_entries (${ENTRY_INSERT_COLUMNS.join(', ')})
    SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
      $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
      $16::text[])`,
  moveHeads: `UPDATE audit_chains c SET seq = u.seq, hash = u.hash
    FROM unnest($1::text[], $2::int8[], $3::text[]) AS u(chain, seq, hash) WHERE c.chain = u.chain`,
  heads: 'SELECT chain, seq, hash FROM audit_chains WHERE seq > 0 ORDER BY chain',
  eventExists: 'SELECT 1 FROM audit_entries WHERE message_id = $1 AND kind = $2 LIMIT 1',
  latestCheckpoint: 'SELECT body, signature FROM audit_checkpoints ORDER BY id DESC LIMIT 1',
  leaves: `SELECT e.chain, e.hash FROM audit_entries e
    JOIN unnest($1::text[], $2::int8[], $3::int8[]) AS r(chain, lo, hi)
    ON e.chain = r.chain AND e.seq > r.lo AND e.seq <= r.hi ORDER BY e.chain, e.seq`,
};

/** SQLSTATE of a unique index refusing a row (here: an idempotency key the chain holds). */
const UNIQUE_VIOLATION = '23505';

/**
 * How long after a key conflict batches with idempotency keys are linked with their stored entries
 * looked up instead of hashed ahead. Replays come in runs (a partition delivered again after a
 * rebalance or a crash, an append retried): each conflict costs an aborted transaction, and the
 * look-up costs less than that while they last.
 */
const KEY_CONFLICT_LOOKUP_MS = 10_000;

const STRING_FIELDS = [
  'time',
  'kind',
  'actor',
  'messageId',
  'sender',
  'receiver',
  'senderSystem',
  'receiverSystem',
  'messageType',
  'digest',
] as const;

/** PostgreSQL text cannot hold U+0000; refuse such an event up front rather than fail a whole batch. */
function assertNoNul(event: AuditEventInput, chain: string, key: string | null): void {
  if (chain.includes('\u0000') || key?.includes('\u0000'))
    throw new TypeError('audit event: U+0000 in chain or key');
  for (const field of STRING_FIELDS) {
    const value = event[field];
    if (typeof value === 'string' && value.includes('\u0000')) {
      throw new TypeError(`audit event: ${field} contains U+0000`);
    }
  }
}

interface Head {
  seq: number;
  hash: string;
}

/** A batch linked onto given heads: the entries, their INSERT parameters and the heads after it. */
interface Linked {
  base: Map<string, Head>;
  results: AuditEntry[][];
  fresh: AuditEntry[];
  /** The 16 array literals of the INSERT … unnest(…). */
  values: string[];
  headsAfter: Map<string, Head>;
}

function sameHead(a: Head | undefined, b: Head): boolean {
  return a !== undefined && a.seq === b.seq && a.hash === b.hash;
}

/** Hashes a batch onto `base` (chain → head); events whose key is in `stored` yield the stored entry. */
function link(batch: PendingAppend[], base: Map<string, Head>, stored: Map<string, AuditEntry>): Linked {
  const heads = new Map(base);
  const columns: (string | number | null)[][] = Array.from({ length: 16 }, () => []);
  const results: AuditEntry[][] = [];
  const fresh: AuditEntry[] = [];
  for (const pending of batch) {
    let head = heads.get(pending.chain)!;
    const entries: AuditEntry[] = [];
    for (let i = 0; i < pending.events.length; i++) {
      const key = pending.keys[i]!;
      if (key !== null) {
        const existing = stored.get(scopedKey(pending.chain, key));
        if (existing) {
          entries.push(existing);
          continue;
        }
      }
      const entry = chainEntry(pending.events[i]!, pending.chain, head);
      const row = entryRow(entry, pending.detailJson[i]!, key);
      for (let c = 0; c < 16; c++) columns[c]!.push(row[c]!);
      if (key !== null) stored.set(scopedKey(pending.chain, key), entry);
      entries.push(entry);
      fresh.push(entry);
      head = entry;
    }
    heads.set(pending.chain, { seq: head.seq, hash: head.hash });
    results.push(entries);
  }
  const values = columns.map((column, c) =>
    c === 1 ? intArrayLiteral(column as number[]) : textArrayLiteral(column as (string | null)[]),
  );
  return { base, results, fresh, values, headsAfter: heads };
}

export class PgAuditStore implements AuditStore {
  readonly kind = 'postgres';
  private queue: PendingAppend[] = [];
  private draining: Promise<void> | null = null;
  /** Heads this process last committed (or is committing), to hash the next batch ahead. */
  private readonly knownHeads = new Map<string, Head>();
  private readonly counters = { transactions: 0, events: 0, hashedAhead: 0, rehashed: 0, keyConflicts: 0 };
  /** performance.now() until which keyed batches are not hashed ahead (KEY_CONFLICT_LOOKUP_MS). */
  private keysLookedUpUntil = 0;
  private closed = false;
  private readonly projector: PgMessageProjector;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly maxBatchEvents: number,
    /** Resolves once the schema is migrated (or found); every operation waits for it. */
    private readonly ready: Promise<void>,
  ) {
    ready.catch(() => {}); // reported by the first operation (or by connect)
    this.projector = new PgMessageProjector(pool);
  }

  /** Connects and migrates; rejects if the database cannot be used. */
  static async connect(options: PgAuditStoreOptions): Promise<PgAuditStore> {
    const store = PgAuditStore.open(options);
    try {
      await store.ready;
    } catch (error) {
      await store.pool.end();
      throw error;
    }
    return store;
  }

  /** Opens without waiting: the first operation waits for the connection (for short-lived CLI commands). */
  static open(options: PgAuditStoreOptions): PgAuditStore {
    const pool = createPgPool({
      url: options.url,
      schema: options.schema,
      max: options.poolSize ?? 4,
      applicationName: options.applicationName ?? 'laender-gateway audit',
    });
    const ready =
      options.migrate !== false
        ? migrate(pool, { schema: options.schema }).then(() => {})
        : pool.query('SELECT 1 FROM audit_entries LIMIT 0').then(() => {});
    return new PgAuditStore(pool, options.maxBatchEvents ?? 5000, ready);
  }

  append(events: AuditEventInput[], chain = 'main'): Promise<AuditEntry[]> {
    if (this.closed) return Promise.reject(new Error('PgAuditStore is closed'));
    let pending: Omit<PendingAppend, 'resolve' | 'reject'>;
    try {
      pending = pendingEvents(events, chain, assertNoNul);
    } catch (err) {
      return Promise.reject(err);
    }
    if (pending.events.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ ...pending, resolve, reject });
      // Start after this event-loop turn, so calls made together share the first transaction.
      this.draining ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.drain());
    });
  }

  /**
   * Commits the queue batch by batch, two transactions in flight: while PostgreSQL works on one,
   * the next one is hashed on the heads the first will leave (a plan). The next transaction checks
   * the plan against the heads it locks; if another process appended in between, it recomputes.
   */
  private async drain(): Promise<void> {
    try {
      try {
        await this.ready;
      } catch (error) {
        for (const pending of this.queue.splice(0)) pending.reject(error);
        return;
      }
      const inFlight = new Set<Promise<void>>();
      let hint = this.knownHeads;
      while (this.queue.length > 0 || inFlight.size > 0) {
        if (this.queue.length === 0 || inFlight.size >= 2) {
          await Promise.race(inFlight);
          if (inFlight.size === 0) hint = this.knownHeads;
          continue;
        }
        const batch = this.takeBatch();
        const plan = this.plan(batch, hint);
        hint = new Map(hint);
        for (const pending of batch) {
          const after = plan?.headsAfter.get(pending.chain);
          if (after) hint.set(pending.chain, after);
          else hint.delete(pending.chain);
        }
        const done: Promise<void> = this.commitWithRetry(batch, plan).then(
          ({ results, fresh }) => {
            this.projector.remember(fresh);
            for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i]!);
          },
          (error: unknown) => {
            for (const pending of batch) pending.reject(error);
          },
        );
        inFlight.add(done);
        void done.finally(() => inFlight.delete(done));
      }
    } finally {
      this.draining = null;
    }
  }

  private takeBatch(): PendingAppend[] {
    const batch: PendingAppend[] = [];
    let size = 0;
    while (
      this.queue.length > 0 &&
      (batch.length === 0 || size + this.queue[0]!.events.length <= this.maxBatchEvents)
    ) {
      const next = this.queue.shift()!;
      size += next.events.length;
      batch.push(next);
    }
    return batch;
  }

  /**
   * A batch hashed ahead on assumed heads; none if a head is unknown. Idempotency keys are assumed
   * new (a replay is the exception): a key the chain holds fails the plan's INSERT on the unique
   * index, and the batch is linked again with its stored entries (commitWithRetry); for a while after
   * that, keyed batches are not hashed ahead (KEY_CONFLICT_LOOKUP_MS).
   */
  private plan(batch: PendingAppend[], hint: Map<string, Head>): Linked | undefined {
    const lookUpKeys = performance.now() < this.keysLookedUpUntil;
    for (const pending of batch) {
      if (!hint.has(pending.chain)) return undefined;
      if (lookUpKeys && pending.keys.some((k) => k !== null)) return undefined;
    }
    return link(batch, new Map(batch.map((p) => [p.chain, hint.get(p.chain)!])), new Map());
  }

  private async commitWithRetry(batch: PendingAppend[], plan: Linked | undefined): Promise<Linked> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await inTransaction(this.pool, (client) => this.commit(client, batch, plan));
      } catch (error) {
        // A planned key the chain holds already (a replay): again, looking the keys up.
        if (plan && (error as { code?: string }).code === UNIQUE_VIOLATION) {
          this.keysLookedUpUntil = performance.now() + KEY_CONFLICT_LOOKUP_MS;
          this.counters.keyConflicts++;
          plan = undefined;
          continue;
        }
        if (attempt >= 3 || !isRetryable(error)) throw error;
      }
    }
  }

  private async commit(
    client: pg.PoolClient,
    batch: PendingAppend[],
    plan: Linked | undefined,
  ): Promise<Linked> {
    const chains = [...new Set(batch.map((p) => p.chain))].sort();
    const lock = { name: 'audit-lock-chains', text: SQL.lockChains, values: [chains] };
    let locked = (await client.query<ChainHead>(lock)).rows;
    if (locked.length < chains.length) {
      const present = new Set(locked.map((r) => r.chain));
      await client.query({
        name: 'audit-new-chains',
        text: SQL.newChains,
        values: [chains.filter((c) => !present.has(c)), GENESIS_HASH],
      });
      locked = (await client.query<ChainHead>(lock)).rows;
    }
    const heads = new Map(locked.map((h) => [h.chain, { seq: h.seq, hash: h.hash }]));

    let linked = plan;
    if (!linked || !locked.every((h) => sameHead(linked!.base.get(h.chain), h))) {
      if (linked) this.counters.rehashed++;
      linked = link(batch, heads, await this.storedUnderKeys(client, batch));
    } else {
      this.counters.hashedAhead++;
    }
    this.counters.transactions++;
    this.counters.events += linked.fresh.length;
    if (linked.fresh.length > 0) {
      await client.query({ name: 'audit-insert', text: SQL.insert, values: linked.values });
      const moved = chains.filter((c) => linked.headsAfter.get(c)!.seq > heads.get(c)!.seq);
      await client.query({
        name: 'audit-move-heads',
        text: SQL.moveHeads,
        values: [
          moved,
          moved.map((c) => linked.headsAfter.get(c)!.seq),
          moved.map((c) => linked.headsAfter.get(c)!.hash),
        ],
      });
    }
    // Committed heads (nearly: COMMIT follows) seed the next plan; a failed COMMIT only costs a recompute.
    for (const [chain, head] of linked.headsAfter) this.knownHeads.set(chain, head);
    return linked;
  }

  /** Entries already stored under the batch's idempotency keys (replays), by chain and key. */
  private async storedUnderKeys(
    client: pg.PoolClient,
    batch: PendingAppend[],
  ): Promise<Map<string, AuditEntry>> {
    const keyChains: string[] = [];
    const keyValues: string[] = [];
    for (const pending of batch) {
      for (const key of pending.keys) {
        if (key !== null) {
          keyChains.push(pending.chain);
          keyValues.push(key);
        }
      }
    }
    const stored = new Map<string, AuditEntry>();
    if (keyValues.length === 0) return stored;
    const rows = await client.query<EntryRow & { idempotencyKey: string }>({
      name: 'audit-by-keys',
      text: SQL.byKeys,
      values: [keyChains, keyValues],
    });
    for (const row of rows.rows) {
      const key = row.idempotencyKey;
      delete (row as Partial<typeof row>).idempotencyKey;
      stored.set(scopedKey(row.chain, key), toEntry(row));
    }
    return stored;
  }

  /**
   * Append transactions, events written, batches hashed ahead, batches hashed again (another writer
   * moved a head), and batches hashed ahead whose idempotency key the chain held (linked again).
   */
  stats(): {
    transactions: number;
    events: number;
    hashedAhead: number;
    rehashed: number;
    keyConflicts: number;
  } {
    return { ...this.counters };
  }

  private async assertOpen(): Promise<void> {
    if (this.closed) throw new Error('PgAuditStore is closed');
    await this.ready;
  }

  async query(query: AuditQuery): Promise<AuditEntry[]> {
    await this.assertOpen();
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (condition: string, value: unknown) => {
      params.push(value);
      where.push(condition.replace('?', `$${params.length}`));
    };
    if (query.messageId !== undefined) add('message_id = ?', query.messageId);
    if (query.kind !== undefined) add('kind = ?', query.kind);
    if (query.chain !== undefined) add('chain = ?', query.chain);
    if (query.fromSeq !== undefined) add('seq >= ?', query.fromSeq);
    if (query.toSeq !== undefined) add('seq <= ?', query.toSeq);
    params.push(query.limit ?? null);
    const text = `SELECT ${ENTRY_SELECT_COLUMNS} FROM audit_entries ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY chain, seq LIMIT $${params.length}`;
    const result = await this.pool.query<EntryRow>(text, params);
    return result.rows.map(toEntry);
  }

  async hasEvent(messageId: string, kind: AuditEventKind): Promise<boolean> {
    await this.assertOpen();
    const found = await this.pool.query({
      name: 'audit-event-exists',
      text: SQL.eventExists,
      values: [messageId, kind],
    });
    return (found.rowCount ?? 0) > 0;
  }

  async heads(): Promise<ChainHead[]> {
    await this.assertOpen();
    return (await this.pool.query<ChainHead>({ name: 'audit-heads', text: SQL.heads })).rows;
  }

  private async leavesOf(
    client: pg.ClientBase | pg.Pool,
    ranges: CheckpointRange[],
  ): Promise<Map<string, string[]>> {
    const rows = await client.query<{ chain: string; hash: string }>({
      name: 'audit-leaves',
      text: SQL.leaves,
      values: [ranges.map((r) => r.chain), ranges.map((r) => r.fromSeq), ranges.map((r) => r.toSeq)],
    });
    const leaves = new Map<string, string[]>(ranges.map((r) => [r.chain, []]));
    for (const row of rows.rows) leaves.get(row.chain)!.push(row.hash);
    return leaves;
  }

  async createCheckpoint(
    signer: CheckpointSigner,
    time = new Date().toISOString(),
  ): Promise<AuditCheckpoint | null> {
    await this.assertOpen();
    return inTransaction(this.pool, async (client) => {
      // One checkpointer at a time per schema, whichever process it runs in.
      await client.query('SELECT pg_advisory_xact_lock(hashtext(current_schema() || $1))', [
        ':audit-checkpoint',
      ]);
      const last = (await client.query<CheckpointRow>(SQL.latestCheckpoint)).rows[0];
      const previous = last ? toCheckpoint(last) : null;
      const plan = planCheckpoint(previous, (await client.query<ChainHead>(SQL.heads)).rows);
      if (!plan) return null;
      const checkpoint = signCheckpoint(plan, await this.leavesOf(client, plan.ranges), signer, time);
      await client.query(
        `INSERT INTO audit_checkpoints (${CHECKPOINT_INSERT_COLUMNS}) VALUES ($1, $2, $3, $4, $5)`,
        checkpointRow(checkpoint),
      );
      await client.query(
        `INSERT INTO audit_checkpoint_heads (checkpoint_id, chain, seq)
         SELECT $1, chain, seq FROM unnest($2::text[], $3::int8[]) AS u(chain, seq)`,
        [checkpoint.id, plan.ranges.map((r) => r.chain), plan.ranges.map((r) => r.toSeq)],
      );
      return checkpoint;
    });
  }

  async checkpoints(query: { afterId?: number; limit?: number } = {}): Promise<AuditCheckpoint[]> {
    await this.assertOpen();
    const rows = await this.pool.query<CheckpointRow>(
      'SELECT body, signature FROM audit_checkpoints WHERE id > $1 ORDER BY id LIMIT $2',
      [query.afterId ?? 0, query.limit ?? null],
    );
    return rows.rows.map(toCheckpoint);
  }

  async latestCheckpoint(): Promise<AuditCheckpoint | null> {
    await this.assertOpen();
    const row = (await this.pool.query<CheckpointRow>(SQL.latestCheckpoint)).rows[0];
    return row ? toCheckpoint(row) : null;
  }

  async inclusionProof(chain: string, seq: number): Promise<InclusionProof | null> {
    await this.assertOpen();
    const covering = (
      await this.pool.query<CheckpointRow>(
        `SELECT c.body, c.signature FROM audit_checkpoint_heads h JOIN audit_checkpoints c ON c.id = h.checkpoint_id
         WHERE h.chain = $1 AND h.seq >= $2 ORDER BY h.seq, h.checkpoint_id LIMIT 1`,
        [chain, seq],
      )
    ).rows[0];
    if (!covering) return null;
    const checkpoint = toCheckpoint(covering);
    return proofFrom(checkpoint, await this.leavesOf(this.pool, rangesOf(checkpoint)), chain, seq);
  }

  async searchMessages(search: AuditMessageSearch): Promise<AuditMessagePage> {
    await this.assertOpen();
    const built = buildMessageSearch(search, (n) => `$${n}`);
    if (built.empty) return { items: [] };
    // The rows are projected behind the appends: bring them up to what is appended now.
    await this.projector.catchUp();
    const rows = (await this.pool.query<AuditMessageSummary>(built.sql, built.params)).rows;
    return searchPage(rows, built.limit);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.draining) await this.draining;
    await this.ready.catch(() => {});
    await this.projector.close();
    await this.pool.end();
  }
}
