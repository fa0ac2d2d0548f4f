/**
 * The embedded Bus: a durable, partitioned log in one SQLite file (WAL mode), shared by any number of
 * SqliteBus instances in one or several processes on the same machine.
 *
 * - Durability: with `sync: 'FULL'` (default) `publish` resolves after the transaction holding its
 *   records committed and the WAL was fsync'd — by an fdatasync on the thread pool after the COMMIT
 *   (gateway/db/wal-sync.ts), not inside it on the event loop. `NORMAL` does not sync: it survives
 *   a process crash but may lose the last commits on power loss.
 * - Group commit: publishes arriving in the same event-loop turn share one transaction, so one fsync
 *   covers thousands of records.
 * - Consumers in this process are handed a publish's records only once that fsync completed
 *   (LogVisibility): nothing is delivered that a power loss could still erase. Records written by
 *   another process become visible when this process notices them, which may be before that process
 *   synced them: a window only a power loss of the machine can use, and only for those records.
 * - Unknown topics are created on first use (publish or subscribe) with `defaultPartitions`: in
 *   embedded mode there is no operator provisioning topics, and rejecting would only move the
 *   `ensureTopics` call into every caller. The partition count of an existing topic never changes,
 *   which keeps key → partition stable.
 * - Partitioning uses Kafka's murmur2, so a key lands in the same partition number here and on a
 *   Kafka topic with the same partition count (handy when migrating or comparing traces).
 * - Consumer groups: each subscription is a member (row renewed by a heartbeat); each partition of a
 *   subscribed topic is owned through a lease (owner, expires_at) renewed by the same heartbeat. A
 *   member's quota is its fair share of the partitions among live members sorted by id; a member over
 *   quota hands partitions back after the in-flight record committed, a member under quota claims
 *   unowned or expired leases. A crashed member's leases expire after `leaseTtlMs` and its
 *   uncommitted records go to whoever claims the partition next.
 * - Offsets, memberships and leases are committed without waiting for a sync (no `afterCommit`):
 *   losing the newest of them on power loss only causes redelivery (which at-least-once allows),
 *   and it spares an fsync per consumed record. They share the log's connection: a commit by a
 *   second connection on the file made SQLite drop the log connection's whole page cache at its
 *   next transaction (WAL mode), so every publish and fetch re-read the index pages from the OS.
 * - Waiting for records: publishes in this process wake the idle partition workers of their topic
 *   once synced, and hand them the records from memory when those are the partition's next offsets
 *   (a fetch cost ~37 µs in the bench, and most records are consumed by the process that
 *   published them). A worker reads its partition again only when a signal says it may hold
 *   records it was not handed. Records written by OTHER processes are noticed by one cheap query
 *   per store and poll interval (`max(rowid)` of the log, compared with the highest rowid this
 *   store has seen or written); only when it moved do the idle workers fetch. Without it every
 *   idle partition of every group would query its partition each interval (hundreds of queries
 *   per interval with ten systems × two groups × 16 partitions: 6.5 % of the gateway's CPU in the
 *   bench profile). An idle worker that got no signal at all looks on its own after
 *   `idleFallbackMs` (10 s), a safety net only.
 * - The WAL is checkpointed by a worker thread (gateway/db/wal-checkpointer.ts), not inside the
 *   publish that happens to cross SQLite's automatic checkpoint threshold.
 * - Records are never deleted (no retention yet).
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import Database from 'better-sqlite3';
import { CommitPacer } from '../db/commit-pacer.ts';
import { attachWalCheckpointer } from '../db/wal-checkpointer.ts';
import { type WalSync, walSyncFor } from '../db/wal-sync.ts';
import { GatewayError } from '../errors/catalogue.ts';
import type { Logger } from '../log/logger.ts';
import type {
  Bus,
  BusHealth,
  BusRecord,
  ConsumedRecord,
  GroupLag,
  PartitionOffsets,
  RecordHandler,
  SubscribeOptions,
  Subscription,
  TopicSpec,
} from '../ports/bus.ts';
import { redeliveryAfter } from './redeliver-later.ts';

export interface SqliteBusOptions {
  /** The database file; created if missing. Every instance sharing it shares topics and groups. */
  file: string;
  /** SQLite `synchronous` for the log. Default FULL (fsync per commit). */
  sync?: 'FULL' | 'NORMAL';
  /** Partitions of a topic created on first use. Default 4. */
  defaultPartitions?: number;
  /** How often this bus looks for records written by other processes (one query). Default 50 ms. */
  pollIntervalMs?: number;
  /**
   * How long an idle partition waits at most without any signal before it looks itself. Default
   * 10 s. A safety net only: publishes in this process and the poll for other processes' records
   * signal every partition that may have got records.
   */
  idleFallbackMs?: number;
  /** How long a partition lease or membership lives without a heartbeat. Default 3000 ms. */
  leaseTtlMs?: number;
  /** Heartbeat (lease renewal and rebalancing) interval. Default leaseTtlMs / 3. */
  heartbeatMs?: number;
  logger?: Logger;
}

interface BusTimings {
  pollIntervalMs: number;
  idleFallbackMs: number;
  leaseTtlMs: number;
  heartbeatMs: number;
}

export interface SqliteBusStats {
  /** Transactions that wrote published records (group commit: far fewer than publish calls). */
  publishTransactions: number;
  publishedRecords: number;
  offsetCommitTransactions: number;
}

/**
 * Records read per partition at a time. Every partition of every group buffers one batch: with 16
 * partitions and sealed documents of ~5 KB, 200 per batch held tens of MB under a backlog; 64 keeps
 * a fetch per ~64 records (cheap) and the buffers small.
 */
const FETCH_BATCH = 64;
const DEFAULT_REDELIVERY_DELAY_MS = 1000;

// Instances on the same file in this process signal each other so consumers wake at once instead of
// at the next poll, and group members rebalance at once when someone joins or hands a partition back.
const localSignals = new EventEmitter();
localSignals.setMaxListeners(0);
const recordsSignal = (file: string, topic: string) => `records\0${file}\0${topic}`;
/** Records of unknown topics appeared (written by another process): every idle worker looks. */
const foreignSignal = (file: string) => `foreign\0${file}`;
/**
 * How long an idle partition waits at most without any signal. Every way records become visible
 * here signals the partitions concerned (a publish in this process: its partitions; the store's
 * poll noticing another process's records, or a sync revealing them: every partition), so this
 * only bounds the wait should a signal ever be missed. It was 1 s: with anything published, every
 * idle partition of every group then fetched once a second (0.14 fetches per consumed record in
 * test/bench/embedded-ab.ts, where 18 of 20 topics are idle; 1.35 in the gateway bench).
 */
const DEFAULT_IDLE_FALLBACK_MS = 10_000;
const groupSignal = (file: string, group: string) => `group\0${file}\0${group}`;

/**
 * How far the consumers in this process may read a log file: records up to `limit()` (a rowid).
 * Shared by every store on the file in this process. A commit of this process hides its records
 * (and any later ones) until `synced`; what other processes wrote counts once `noticed`.
 */
class LogVisibility {
  /** Stores on the file in this process. */
  users = 0;
  /** Highest rowid of the log known here. */
  private seen = 0;
  /** The rowid before each commit of this process whose sync has not completed. */
  private readonly unsynced = new Set<number>();

  limit(): number {
    let limit = this.seen;
    for (const before of this.unsynced) if (before < limit) limit = before;
    return limit;
  }

  /** True if that moved what is known (callers that emit no records signal then emit a foreign one). */
  noticed(rowid: number): boolean {
    if (rowid <= this.seen) return false;
    this.seen = rowid;
    return true;
  }

  committed(rowidBefore: number, rowidAfter: number): void {
    this.unsynced.add(rowidBefore);
    this.noticed(rowidAfter);
  }

  /** Marks a commit synced; true if that made records beyond it visible too (others' commits). */
  synced(rowidBefore: number, rowidAfter: number): boolean {
    this.unsynced.delete(rowidBefore);
    return this.limit() > rowidAfter;
  }
}
const visibilities = new Map<string, LogVisibility>();

/** Kafka's murmur2 (Java client, kafkajs DefaultPartitioner), on the key's UTF-8 bytes. */
export function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const tail = length & ~3;
  const rest = length % 4;
  if (rest >= 3) h ^= data[tail + 2]! << 16;
  if (rest >= 2) h ^= data[tail + 1]! << 8;
  if (rest >= 1) {
    h ^= data[tail]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

export function partitionFor(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % partitions;
}

interface PreparedRecord {
  topic: string;
  key: string;
  value: Buffer;
  headers: string;
}

interface PendingPublish {
  records: PreparedRecord[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface RecordRow {
  offset: number;
  key: string;
  value: Buffer;
  headers: string;
  timestamp: number;
}

/** A record as a publish in this process wrote it, kept to hand to this process's consumers. */
interface WrittenRecord {
  offset: number;
  key: string;
  /** A copy taken at the insert: the publisher's buffer is not ours to keep. */
  value: Buffer;
  headers: string;
}

/** What a records signal carries: one publish commit's records of one topic, now synced. */
interface AppendedRecords {
  /**
   * Per partition written, its records in offset order, or null if nobody in this process
   * subscribed to the topic when they were written (then they were not kept).
   */
  partitions: ReadonlyMap<number, readonly WrittenRecord[] | null>;
  /** Whether they are within the visibility limit (no earlier commit of this process still syncing). */
  visible: boolean;
  timestamp: number;
}

interface LeaseRow {
  partition: number;
  owner: string;
  expires_at: number;
}

function prepare(record: BusRecord): PreparedRecord {
  if (typeof record.topic !== 'string' || record.topic === '') {
    throw new TypeError('BusRecord.topic must be a non-empty string');
  }
  if (typeof record.key !== 'string') throw new TypeError('BusRecord.key must be a string');
  if (!(record.value instanceof Uint8Array)) throw new TypeError('BusRecord.value must be a Buffer');
  const headers = record.headers ?? {};
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value !== 'string') throw new TypeError(`BusRecord.headers.${name} must be a string`);
  }
  // Plain Uint8Arrays from untyped callers are accepted too; better-sqlite3 binds only Buffers as BLOBs.
  const raw: Uint8Array = record.value;
  const value = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  return { topic: record.topic, key: record.key, value, headers: JSON.stringify(headers) };
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS topics (
  name TEXT PRIMARY KEY,
  partitions INTEGER NOT NULL CHECK (partitions > 0)
);
CREATE TABLE IF NOT EXISTS records (
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  key TEXT NOT NULL,
  value BLOB NOT NULL,
  headers TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  PRIMARY KEY (topic, partition, offset)
);
CREATE TABLE IF NOT EXISTS group_offsets (
  grp TEXT NOT NULL,
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  next_offset INTEGER NOT NULL,
  PRIMARY KEY (grp, topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_members (
  grp TEXT NOT NULL,
  topic TEXT NOT NULL,
  member TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (grp, topic, member)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS partition_leases (
  grp TEXT NOT NULL,
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  owner TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (grp, topic, partition)
) WITHOUT ROWID;
`;

/** The connection, statements and the offset-commit queue shared by the bus and its subscriptions. */
class Store {
  readonly db: Database.Database;
  readonly stats: SqliteBusStats = {
    publishTransactions: 0,
    publishedRecords: 0,
    offsetCommitTransactions: 0,
  };
  private readonly partitionCache = new Map<string, number>();
  private readonly pendingCommits = new Map<
    string,
    { group: string; topic: string; partition: number; next: number }
  >();
  private commitScheduled = false;
  /** Highest rowid of the log this store has seen (polled) or written itself. */
  private knownRowid = -1;
  private foreignPoll: NodeJS.Timeout | undefined;
  private pollers = 0;

  readonly s: {
    insertTopic: Database.Statement<[string, number]>;
    topicPartitions: Database.Statement<[string], number>;
    head: Database.Statement<[string, number], number | null>;
    heads: Database.Statement<[string], { partition: number; last: number }>;
    insertRecord: Database.Statement<[string, number, number, string, Buffer, string, number]>;
    fetch: Database.Statement<[string, number, number, number, number], RecordRow>;
    ping: Database.Statement<[], number>;
    maxRowid: Database.Statement<[], number | null>;
    commit: Database.Statement<[string, string, number, number]>;
    committed: Database.Statement<[string, string, number], number>;
    committedAll: Database.Statement<[string, string], { partition: number; next_offset: number }>;
    upsertMember: Database.Statement<[string, string, string, number]>;
    deleteDeadMembers: Database.Statement<[string, string, number]>;
    liveMembers: Database.Statement<[string, string, number], string>;
    leases: Database.Statement<[string, string], LeaseRow>;
    renewLease: Database.Statement<[number, string, string, number, string]>;
    claimLease: Database.Statement<[string, string, number, string, number, number]>;
    releaseLease: Database.Statement<[string, string, number, string]>;
    leaveMembers: Database.Statement<[string, string]>;
    releaseLeases: Database.Statement<[string, string]>;
  };
  private readonly flushCommitsTx: Database.Transaction<() => void>;
  /** Every record is ~5 KB of WAL: its checkpoints run off the event loop, not inside a publish. */
  private readonly detachCheckpointer: () => Promise<void>;
  /** The fsync of each log commit, off the event loop; undefined with `sync: 'NORMAL'` (no fsync). */
  readonly walSync: WalSync | undefined;
  readonly visibility: LogVisibility;

  constructor(
    readonly file: string,
    readonly sync: 'FULL' | 'NORMAL',
    private readonly defaultPartitions: number,
  ) {
    this.db = new Database(file, { timeout: 5000 });
    this.db.pragma('journal_mode = WAL');
    this.walSync = walSyncFor(this.db, file, sync);
    this.db.exec(SCHEMA);

    const db = this.db;
    this.s = {
      insertTopic: db.prepare('INSERT OR IGNORE INTO topics (name, partitions) VALUES (?, ?)'),
      topicPartitions: db.prepare<[string], number>('SELECT partitions FROM topics WHERE name = ?').pluck(),
      head: db
        .prepare<[string, number], number | null>(
          'SELECT max(offset) FROM records WHERE topic = ? AND partition = ?',
        )
        .pluck(),
      heads: db.prepare(
        'SELECT partition, max(offset) AS last FROM records WHERE topic = ? GROUP BY partition',
      ),
      insertRecord: db.prepare(
        'INSERT INTO records (topic, partition, offset, key, value, headers, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      // `+rowid`: the visibility limit filters the primary key range, it must not pick the plan.
      fetch: db.prepare(
        `SELECT offset, key, value, headers, timestamp FROM records
         WHERE topic = ? AND partition = ? AND offset >= ? AND +rowid <= ? ORDER BY offset LIMIT ?`,
      ),
      ping: db.prepare<[], number>('SELECT 1').pluck(),
      maxRowid: db.prepare<[], number | null>('SELECT max(rowid) FROM records').pluck(),
      // Monotonic: a member that lost its lease during a stall must not move the offset backwards.
      commit: db.prepare(
        `INSERT INTO group_offsets (grp, topic, partition, next_offset) VALUES (?, ?, ?, ?)
         ON CONFLICT (grp, topic, partition) DO UPDATE SET next_offset = excluded.next_offset
         WHERE excluded.next_offset > group_offsets.next_offset`,
      ),
      committed: db
        .prepare<[string, string, number], number>(
          'SELECT next_offset FROM group_offsets WHERE grp = ? AND topic = ? AND partition = ?',
        )
        .pluck(),
      committedAll: db.prepare(
        'SELECT partition, next_offset FROM group_offsets WHERE grp = ? AND topic = ?',
      ),
      upsertMember: db.prepare(
        `INSERT INTO group_members (grp, topic, member, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (grp, topic, member) DO UPDATE SET expires_at = excluded.expires_at`,
      ),
      deleteDeadMembers: db.prepare(
        'DELETE FROM group_members WHERE grp = ? AND topic = ? AND expires_at <= ?',
      ),
      liveMembers: db
        .prepare<[string, string, number], string>(
          'SELECT member FROM group_members WHERE grp = ? AND topic = ? AND expires_at > ? ORDER BY member',
        )
        .pluck(),
      leases: db.prepare(
        'SELECT partition, owner, expires_at FROM partition_leases WHERE grp = ? AND topic = ?',
      ),
      renewLease: db.prepare(
        'UPDATE partition_leases SET expires_at = ? WHERE grp = ? AND topic = ? AND partition = ? AND owner = ?',
      ),
      claimLease: db.prepare(
        `INSERT INTO partition_leases (grp, topic, partition, owner, expires_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (grp, topic, partition) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
         WHERE partition_leases.expires_at <= ?`,
      ),
      releaseLease: db.prepare(
        'DELETE FROM partition_leases WHERE grp = ? AND topic = ? AND partition = ? AND owner = ?',
      ),
      leaveMembers: db.prepare('DELETE FROM group_members WHERE grp = ? AND member = ?'),
      releaseLeases: db.prepare('DELETE FROM partition_leases WHERE grp = ? AND owner = ?'),
    };
    this.flushCommitsTx = db.transaction(() => {
      for (const c of this.pendingCommits.values()) this.s.commit.run(c.group, c.topic, c.partition, c.next);
    });
    this.detachCheckpointer = attachWalCheckpointer(file, [db]);
    let visibility = visibilities.get(file);
    if (!visibility) {
      visibility = new LogVisibility();
      visibilities.set(file, visibility);
    }
    visibility.users++;
    this.visibility = visibility;
    if (visibility.noticed(this.currentRowid())) localSignals.emit(foreignSignal(file));
  }

  /**
   * Called inside the publish transaction, before and after the inserts: if the log grew beyond
   * what this store knew before its own inserts, another process wrote too — tell the idle workers.
   */
  noteOwnWrite(rowidBefore: number, rowidAfter: number): boolean {
    const foreign = rowidBefore !== this.knownRowid;
    this.knownRowid = rowidAfter;
    return foreign;
  }

  /** The log's current highest rowid (the write transaction reads it under its lock). */
  currentRowid(): number {
    return this.s.maxRowid.get() ?? 0;
  }

  /** Starts (first subscriber) the one poll that notices other processes' records. */
  startForeignPoll(intervalMs: number): void {
    if (this.pollers++ > 0) return;
    this.knownRowid = this.currentRowid();
    if (this.visibility.noticed(this.knownRowid)) localSignals.emit(foreignSignal(this.file));
    this.foreignPoll = setInterval(() => {
      let now: number;
      try {
        now = this.currentRowid();
      } catch {
        return; // busy or closing: the next interval tries again
      }
      if (now !== this.knownRowid) {
        this.knownRowid = now;
        this.visibility.noticed(now);
        localSignals.emit(foreignSignal(this.file));
      }
    }, intervalMs);
    this.foreignPoll.unref();
  }

  stopForeignPoll(): void {
    if (--this.pollers > 0) return;
    clearInterval(this.foreignPoll);
    this.foreignPoll = undefined;
  }

  /** Partition count of a topic, creating it with the default count if `create`. Never changes once known. */
  partitionsOf(topic: string, create: boolean): number | undefined {
    const cached = this.partitionCache.get(topic);
    if (cached !== undefined) return cached;
    if (create) this.s.insertTopic.run(topic, this.defaultPartitions);
    const partitions = this.s.topicPartitions.get(topic);
    if (partitions !== undefined) this.partitionCache.set(topic, partitions);
    return partitions;
  }

  queueCommit(group: string, topic: string, partition: number, next: number): void {
    this.pendingCommits.set(`${group}\0${topic}\0${partition}`, { group, topic, partition, next });
    if (!this.commitScheduled) {
      this.commitScheduled = true;
      setImmediate(() => {
        this.commitScheduled = false;
        try {
          this.flushCommits();
        } catch {
          // Stays queued; the next commit, release or close retries it.
        }
      });
    }
  }

  /** Writes queued offset commits now; throws (keeping them queued) if the database refuses. */
  flushCommits(): void {
    if (this.pendingCommits.size === 0) return;
    this.flushCommitsTx.immediate();
    this.pendingCommits.clear();
    this.stats.offsetCommitTransactions++;
  }

  async close(): Promise<void> {
    clearInterval(this.foreignPoll);
    // The publishes flushed before are acknowledged once synced.
    await this.walSync?.close();
    if (--this.visibility.users === 0) visibilities.delete(this.file);
    await this.detachCheckpointer();
    this.db.close();
  }
}

class PartitionWorker {
  /** Next offset to hand to the handler. */
  position: number;
  buffer: ConsumedRecord[] = [];
  stopping = false;
  /** True while waiting for new records (a publish signal may cut the wait short). */
  idle = false;
  /**
   * The visibility limit of the last fetch if it returned every record visible at that limit
   * (fewer than asked for). Records are only appended with higher rowids, so while the limit stays
   * there, a drained buffer means nothing to read: the worker waits instead of fetching nothing.
   */
  caughtUpAt: number | undefined;
  /**
   * Whether this partition may have got records since the last fetch that caught up: a publish to
   * it, records of another process (partitions unknown), or the idle fallback. The limit moves with
   * every publish to any partition of the file, so without this a worker handing out one record at
   * a time would follow each fetch with an empty one (1.75 fetches per record in the bench). Every
   * move of the limit is followed by one of these signals, so a worker that caught up and was not
   * signalled has nothing new to read.
   */
  signalled = false;
  private wakeUp: (() => void) | null = null;
  done: Promise<void> = Promise.resolve();

  constructor(
    readonly topic: string,
    readonly partition: number,
    position: number,
  ) {
    this.position = position;
  }

  /** Resolves true if the time ran out, false if woken (or stopped). */
  sleep(ms: number, idle: boolean): Promise<boolean> {
    if (this.stopping) return Promise.resolve(false);
    return new Promise((resolve) => {
      const finish = (timedOut: boolean) => {
        clearTimeout(timer);
        this.wakeUp = null;
        this.idle = false;
        resolve(timedOut);
      };
      const timer = setTimeout(() => finish(true), ms);
      this.wakeUp = () => finish(false);
      this.idle = idle;
    });
  }

  wake(): void {
    this.wakeUp?.();
  }

  /** Records may have appeared in this partition: fetch once the buffer is drained (now, if idle). */
  signal(): void {
    this.signalled = true;
    if (this.idle) this.wake();
  }

  /**
   * Takes visible records a publish in this process just wrote to this partition, instead of
   * fetching them, if they are the very next offsets after what it holds: offsets are contiguous
   * per partition, so nothing is skipped, and any other record that became visible with them came
   * with a signal of its own (LogVisibility: every move of the limit is followed by one). False
   * (then the caller signals) if they are not next, or would grow the buffer past a fetch batch.
   */
  take(records: readonly WrittenRecord[], timestamp: number): boolean {
    const last = this.buffer.at(-1);
    const next = last ? Number(last.offset) + 1 : this.position;
    if (this.stopping || records[0]?.offset !== next) return false;
    if (this.buffer.length + records.length > FETCH_BATCH) return false;
    for (const r of records) {
      this.buffer.push({
        topic: this.topic,
        partition: this.partition,
        key: r.key,
        // Each consumer its own copy, as a fetch would give it.
        value: Buffer.from(r.value),
        headers: JSON.parse(r.headers) as Record<string, string>,
        offset: String(r.offset),
        timestamp,
      });
    }
    if (this.idle) this.wake();
    return true;
  }

  stop(): void {
    this.stopping = true;
    this.wake();
  }
}

const workerKey = (topic: string, partition: number) => `${topic}\0${partition}`;

class SqliteSubscription implements Subscription {
  readonly member = randomUUID();
  private readonly workers = new Map<string, PartitionWorker>();
  private readonly partitions = new Map<string, number>();
  private readonly group: string;
  private readonly topics: string[];
  private readonly handler: RecordHandler;
  private readonly redeliveryDelayMs: number;
  private heartbeat: NodeJS.Timeout | undefined;
  private rebalanceQueued = false;
  private closing = false;
  private closed: Promise<void> | undefined;
  private readonly recordListeners = new Map<string, (appended: AppendedRecords) => void>();
  private readonly onGroupSignal = () => this.queueRebalance();
  private readonly onForeignRecords = () => {
    for (const worker of this.workers.values()) worker.signal();
  };

  constructor(
    private readonly store: Store,
    options: SubscribeOptions,
    private readonly config: BusTimings,
    private readonly logger: Logger | undefined,
    private readonly onClosed: (subscription: SqliteSubscription) => void,
  ) {
    this.group = options.group;
    this.topics = [...new Set(options.topics)];
    this.handler = options.handler;
    this.redeliveryDelayMs = options.redeliveryDelayMs ?? DEFAULT_REDELIVERY_DELAY_MS;
    for (const topic of this.topics) this.partitions.set(topic, store.partitionsOf(topic, true)!);
  }

  start(): void {
    for (const topic of this.topics) {
      // Only the partitions that got records wake (a publish touches one partition per key), and
      // those that can take the records from memory need not fetch them.
      const listener = ({ partitions, visible, timestamp }: AppendedRecords) => {
        for (const worker of this.workers.values()) {
          if (worker.topic !== topic || !partitions.has(worker.partition)) continue;
          const records = partitions.get(worker.partition);
          if (!(visible && records && worker.take(records, timestamp))) worker.signal();
        }
      };
      this.recordListeners.set(topic, listener);
      localSignals.on(recordsSignal(this.store.file, topic), listener);
    }
    localSignals.on(groupSignal(this.store.file, this.group), this.onGroupSignal);
    localSignals.on(foreignSignal(this.store.file), this.onForeignRecords);
    this.store.startForeignPoll(this.config.pollIntervalMs);
    this.rebalance();
    this.heartbeat = setInterval(() => this.rebalance(), this.config.heartbeatMs);
    localSignals.emit(groupSignal(this.store.file, this.group));
  }

  private queueRebalance(): void {
    if (this.rebalanceQueued || this.closing) return;
    this.rebalanceQueued = true;
    setImmediate(() => {
      this.rebalanceQueued = false;
      this.rebalance();
    });
  }

  /** Heartbeat: renew membership and leases, hand back partitions above quota, claim free ones up to it. */
  private rebalance(): void {
    if (this.closing) return;
    const { store, group, member } = this;
    const now = Date.now();
    const expires = now + this.config.leaseTtlMs;
    const start: Array<{ topic: string; partition: number }> = [];
    const release: PartitionWorker[] = [];
    const lost: PartitionWorker[] = [];
    try {
      store.db
        .transaction(() => {
          for (const topic of this.topics) {
            const partitions = this.partitions.get(topic)!;
            store.s.upsertMember.run(group, topic, member, expires);
            store.s.deleteDeadMembers.run(group, topic, now);
            const live = store.s.liveMembers.all(group, topic, now);
            const index = Math.max(0, live.indexOf(member));
            const count = Math.max(1, live.length);
            const quota = Math.floor(partitions / count) + (index < partitions % count ? 1 : 0);

            const leases = new Map(store.s.leases.all(group, topic).map((l) => [l.partition, l]));
            const active: number[] = [];
            const free: number[] = [];
            for (let partition = 0; partition < partitions; partition++) {
              const lease = leases.get(partition);
              const worker = this.workers.get(workerKey(topic, partition));
              if (lease?.owner === member) {
                store.s.renewLease.run(expires, group, topic, partition, member);
                if (!worker) start.push({ topic, partition });
                if (!worker?.stopping) active.push(partition);
              } else if (worker) {
                // Our lease expired (stalled event loop) and someone else took the partition.
                if (!worker.stopping) lost.push(worker);
              } else if (!lease || lease.expires_at <= now) {
                free.push(partition);
              }
            }
            for (const partition of active.slice(quota).reverse()) {
              const worker = this.workers.get(workerKey(topic, partition));
              if (worker) release.push(worker);
              else {
                // Claimed earlier but never started: give it straight back.
                const i = start.findIndex((s) => s.topic === topic && s.partition === partition);
                if (i >= 0) start.splice(i, 1);
                store.s.releaseLease.run(group, topic, partition, member);
              }
            }
            for (const partition of free.slice(0, Math.max(0, quota - active.length))) {
              if (store.s.claimLease.run(group, topic, partition, member, expires, now).changes === 1) {
                start.push({ topic, partition });
              }
            }
          }
        })
        .immediate();
    } catch (error) {
      this.logger?.warn({ err: error, group, member }, 'bus heartbeat failed; retrying at the next one');
      return;
    }
    for (const worker of lost) {
      this.logger?.warn(
        { group, topic: worker.topic, partition: worker.partition },
        'bus partition lease lost to another member',
      );
      worker.stop();
    }
    for (const worker of release) worker.stop();
    for (const { topic, partition } of start) this.startWorker(topic, partition);
  }

  private startWorker(topic: string, partition: number): void {
    const position = this.store.s.committed.get(this.group, topic, partition) ?? 0;
    const worker = new PartitionWorker(topic, partition, position);
    const key = workerKey(topic, partition);
    this.workers.set(key, worker);
    worker.done = this.run(worker)
      .catch((error: unknown) =>
        this.logger?.error({ err: error, topic, partition }, 'bus partition worker failed'),
      )
      .finally(() => {
        if (this.closing) return; // close() commits and leaves for all partitions at once
        try {
          // Commit before letting go, so the next owner starts behind what we handled.
          this.store.flushCommits();
          this.store.s.releaseLease.run(this.group, topic, partition, this.member);
        } catch (error) {
          this.logger?.warn(
            { err: error, topic, partition },
            'bus partition release failed; the lease will expire',
          );
        }
        this.workers.delete(key);
        localSignals.emit(groupSignal(this.store.file, this.group));
      });
  }

  private async run(worker: PartitionWorker): Promise<void> {
    const { topic, partition } = worker;
    while (!worker.stopping) {
      const record = worker.buffer[0];
      if (!record) {
        const limit = this.store.visibility.limit();
        let rows: RecordRow[] = [];
        if (worker.caughtUpAt === undefined || (worker.signalled && worker.caughtUpAt !== limit)) {
          worker.signalled = false;
          try {
            rows = this.store.s.fetch.all(topic, partition, worker.position, limit, FETCH_BATCH);
          } catch (error) {
            worker.signalled = true;
            this.logger?.warn({ err: error, topic, partition }, 'bus fetch failed; retrying');
            await worker.sleep(this.config.pollIntervalMs, false);
            continue;
          }
          worker.caughtUpAt = rows.length < FETCH_BATCH ? limit : undefined;
        }
        if (rows.length === 0) {
          // Woken by a publish here or by the store's poll noticing another process's records; the
          // fallback (no signal within the wait) looks too, if the limit moved.
          if (await worker.sleep(this.config.idleFallbackMs, true)) {
            worker.signalled = true;
          }
          continue;
        }
        worker.buffer = rows.map((row) => ({
          topic,
          partition,
          key: row.key,
          value: row.value,
          headers: JSON.parse(row.headers) as Record<string, string>,
          offset: String(row.offset),
          timestamp: row.timestamp,
        }));
        // A fast handler resolves in microtasks only; yield so timers, I/O and commits get their turn.
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      try {
        await this.handler(record);
      } catch (error) {
        const { delayMs, planned } = redeliveryAfter(error, this.redeliveryDelayMs);
        const fields = { err: error, group: this.group, topic, partition, offset: record.offset, delayMs };
        if (planned) this.logger?.debug(fields, 'bus record deferred; it will be handed again');
        else this.logger?.warn(fields, 'bus handler failed; the record will be handed again');
        await worker.sleep(delayMs, false);
        continue;
      }
      worker.buffer.shift();
      worker.position = Number(record.offset) + 1;
      this.store.queueCommit(this.group, topic, partition, worker.position);
    }
  }

  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    clearInterval(this.heartbeat);
    localSignals.off(groupSignal(this.store.file, this.group), this.onGroupSignal);
    localSignals.off(foreignSignal(this.store.file), this.onForeignRecords);
    this.store.stopForeignPoll();
    for (const [topic, listener] of this.recordListeners) {
      localSignals.off(recordsSignal(this.store.file, topic), listener);
    }
    const workers = [...this.workers.values()];
    for (const worker of workers) worker.stop();
    await Promise.all(workers.map((w) => w.done));
    try {
      this.store.flushCommits();
      this.store.db
        .transaction(() => {
          this.store.s.releaseLeases.run(this.group, this.member);
          this.store.s.leaveMembers.run(this.group, this.member);
        })
        .immediate();
    } catch (error) {
      this.logger?.warn({ err: error, group: this.group }, 'bus leave failed; leases will expire');
    }
    this.workers.clear();
    this.onClosed(this);
    localSignals.emit(groupSignal(this.store.file, this.group));
  }
}

export class SqliteBus implements Bus {
  readonly kind = 'sqlite';
  private readonly store: Store;
  private readonly config: BusTimings;
  private readonly logger: Logger | undefined;
  private readonly subscriptions = new Set<SqliteSubscription>();
  private queue: PendingPublish[] = [];
  /** Publishes made while the last publish commit's sync runs commit together after it. */
  private readonly pacer = new CommitPacer(
    () => this.flushPublishes(),
    () => this.queue.length > 0,
  );
  private closed: Promise<void> | undefined;
  /**
   * Next offset per partition (by workerKey) as of this bus's last committed publish. Still the
   * heads while the log's highest rowid is `nextOffsetsAt` (records are only appended, so nobody
   * wrote since): a publish then needs no head lookup for those partitions.
   */
  private nextOffsets = new Map<string, number>();
  private nextOffsetsAt = -1;
  private readonly writeBatch: Database.Transaction<
    (
      batch: PendingPublish[],
      timestamp: number,
    ) => {
      written: number;
      heads: Map<string, number>;
      appended: Map<string, Map<number, WrittenRecord[] | null>>;
      rowidBefore: number;
      rowidAfter: number;
    }
  >;

  constructor(options: SqliteBusOptions) {
    // A real file, resolved: the checkpointer opens it too, and the in-process signals are keyed by it.
    if (options.file === ':memory:' || options.file === '') throw new TypeError('SqliteBus needs a file');
    const file = path.resolve(options.file);
    const defaultPartitions = options.defaultPartitions ?? 4;
    if (!Number.isInteger(defaultPartitions) || defaultPartitions < 1) {
      throw new TypeError('defaultPartitions must be a positive integer');
    }
    const leaseTtlMs = options.leaseTtlMs ?? 3000;
    const idleFallbackMs = options.idleFallbackMs ?? DEFAULT_IDLE_FALLBACK_MS;
    if (!(idleFallbackMs > 0)) throw new TypeError('idleFallbackMs must be positive');
    this.config = {
      pollIntervalMs: options.pollIntervalMs ?? 50,
      idleFallbackMs,
      leaseTtlMs,
      heartbeatMs: options.heartbeatMs ?? Math.max(10, Math.floor(leaseTtlMs / 3)),
    };
    this.logger = options.logger;
    this.store = new Store(file, options.sync ?? 'FULL', defaultPartitions);

    const { s } = this.store;
    this.writeBatch = this.store.db.transaction((batch: PendingPublish[], timestamp: number) => {
      // Next offset per partition touched by this batch: known from the last publish or one index
      // lookup each, then counted here.
      const heads = new Map<string, number>();
      const rowidBefore = this.store.currentRowid();
      const known = rowidBefore === this.nextOffsetsAt ? this.nextOffsets : undefined;
      // Per topic and partition, the records for this process's consumers (kept only if it has some).
      const appended = new Map<string, Map<number, WrittenRecord[] | null>>();
      let written = 0;
      for (const pending of batch) {
        for (const r of pending.records) {
          const partition = partitionFor(r.key, this.store.partitionsOf(r.topic, true)!);
          const hk = workerKey(r.topic, partition);
          let offset = heads.get(hk) ?? known?.get(hk);
          if (offset === undefined) offset = (s.head.get(r.topic, partition) ?? -1) + 1;
          s.insertRecord.run(r.topic, partition, offset, r.key, r.value, r.headers, timestamp);
          heads.set(hk, offset + 1);
          written++;
          let topic = appended.get(r.topic);
          if (!topic) {
            topic = new Map();
            appended.set(r.topic, topic);
          }
          let kept = topic.get(partition);
          if (kept === undefined) {
            kept = localSignals.listenerCount(recordsSignal(this.store.file, r.topic)) > 0 ? [] : null;
            topic.set(partition, kept);
          }
          kept?.push({ offset, key: r.key, value: Buffer.from(r.value), headers: r.headers });
        }
      }
      return { written, heads, appended, rowidBefore, rowidAfter: this.store.currentRowid() };
    });
  }

  /** Counters for tests and metrics. */
  stats(): SqliteBusStats {
    return { ...this.store.stats };
  }

  async ensureTopics(topics: TopicSpec[]): Promise<void> {
    this.assertOpen();
    for (const t of topics) {
      if (typeof t.name !== 'string' || t.name === '')
        throw new TypeError('TopicSpec.name must be non-empty');
      if (!Number.isInteger(t.partitions) || t.partitions < 1) {
        throw new TypeError(`TopicSpec.partitions of ${t.name} must be a positive integer`);
      }
    }
    this.store.walSync?.assertWritable();
    this.store.db
      .transaction(() => {
        for (const t of topics) this.store.s.insertTopic.run(t.name, t.partitions);
      })
      .immediate();
    await this.store.walSync?.afterCommit();
  }

  publish(records: BusRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new GatewayError('GW_ERR_BUS_UNAVAILABLE', 'The bus is closed'));
    try {
      this.store.walSync?.assertWritable();
    } catch (error) {
      return Promise.reject(this.writeFailure(error));
    }
    let prepared: PreparedRecord[];
    try {
      // Validated now, so one caller's bad record cannot fail the other callers' shared transaction.
      prepared = records.map(prepare);
    } catch (error) {
      return Promise.reject(error);
    }
    if (prepared.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ records: prepared, resolve, reject });
      this.pacer.queued();
    });
  }

  private flushPublishes(): void {
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    let written: number;
    let foreign: boolean;
    let appended: Map<string, Map<number, WrittenRecord[] | null>>;
    let rowidBefore: number;
    let rowidAfter: number;
    let timestamp: number;
    try {
      this.store.walSync?.assertWritable();
      timestamp = Date.now();
      const result = this.writeBatch.immediate(batch, timestamp);
      ({ written, appended, rowidBefore, rowidAfter } = result);
      // Committed: only now are its offsets the heads (a rolled-back batch must not count).
      if (rowidBefore !== this.nextOffsetsAt) this.nextOffsets = new Map();
      for (const [key, next] of result.heads) this.nextOffsets.set(key, next);
      this.nextOffsetsAt = rowidAfter;
      foreign = this.store.noteOwnWrite(rowidBefore, rowidAfter);
    } catch (error) {
      this.logger?.error({ err: error, calls: batch.length }, 'bus publish transaction failed');
      const failure = this.writeFailure(error);
      for (const pending of batch) pending.reject(failure);
      return;
    }
    this.store.stats.publishTransactions++;
    this.store.stats.publishedRecords += written;
    const { visibility } = this.store;
    visibility.committed(rowidBefore, rowidAfter);
    // Acknowledged and handed to consumers only once durable. After a failed sync the records stay
    // hidden here for good: the store accepts no more writes, and what a restart finds decides.
    const synced = () => {
      if (visibility.synced(rowidBefore, rowidAfter)) foreign = true;
      const visible = visibility.limit() >= rowidAfter;
      for (const pending of batch) pending.resolve();
      for (const [topic, partitions] of appended) {
        const signal: AppendedRecords = { partitions, visible, timestamp };
        localSignals.emit(recordsSignal(this.store.file, topic), signal);
      }
      if (foreign) localSignals.emit(foreignSignal(this.store.file));
    };
    this.pacer.settleWhenDurable(this.store.walSync, synced, (error) => {
      this.logger?.error({ err: error, calls: batch.length }, 'bus publish fsync failed');
      const failure = this.writeFailure(error);
      for (const pending of batch) pending.reject(failure);
    });
  }

  private writeFailure(cause: unknown): GatewayError {
    return new GatewayError('GW_ERR_BUS_UNAVAILABLE', 'The records could not be written', { cause });
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    this.assertOpen();
    if (typeof options.group !== 'string' || options.group === '')
      throw new TypeError('group must be non-empty');
    if (!Array.isArray(options.topics) || options.topics.length === 0)
      throw new TypeError('topics must be non-empty');
    if (typeof options.handler !== 'function') throw new TypeError('handler must be a function');
    const subscription = new SqliteSubscription(this.store, options, this.config, this.logger, (s) =>
      this.subscriptions.delete(s),
    );
    this.subscriptions.add(subscription);
    subscription.start();
    return subscription;
  }

  /**
   * The topic's partition count (undefined: no such topic) for a report of committed offsets, the
   * queued commits flushed first so that the report shows them.
   */
  private partitionsForReport(topic: string): number | undefined {
    this.assertOpen();
    const partitions = this.store.partitionsOf(topic, false);
    if (partitions === undefined) return undefined;
    try {
      this.store.flushCommits();
    } catch {
      // Report what is durable; the queued commits are retried later.
    }
    return partitions;
  }

  async lag(group: string, topic: string): Promise<GroupLag[]> {
    const partitions = this.partitionsForReport(topic);
    if (partitions === undefined) return [];
    const heads = new Map(this.store.s.heads.all(topic).map((h) => [h.partition, h.last + 1]));
    const committed = new Map(
      this.store.s.committedAll.all(group, topic).map((c) => [c.partition, c.next_offset]),
    );
    return Array.from({ length: partitions }, (_, partition) => ({
      topic,
      partition,
      lag: Math.max(0, (heads.get(partition) ?? 0) - (committed.get(partition) ?? 0)),
    }));
  }

  async offsets(group: string, topic: string): Promise<PartitionOffsets[]> {
    const partitions = this.partitionsForReport(topic);
    if (partitions === undefined) return [];
    const committed = new Map(
      this.store.s.committedAll.all(group, topic).map((c) => [c.partition, c.next_offset]),
    );
    // One index probe per partition (the grouped `heads` query walks the topic's whole index).
    return Array.from({ length: partitions }, (_, partition) => {
      const c = committed.get(partition);
      return {
        partition,
        end: String((this.store.s.head.get(topic, partition) ?? -1) + 1),
        committed: c === undefined ? null : String(c),
      };
    });
  }

  async commitOffsets(
    group: string,
    topic: string,
    offsets: { partition: number; offset: string }[],
  ): Promise<void> {
    this.assertOpen();
    this.store.partitionsOf(topic, true);
    this.store.db
      .transaction(() => {
        for (const o of offsets) this.store.s.commit.run(group, topic, o.partition, Number(o.offset));
      })
      .immediate();
  }

  async health(): Promise<BusHealth> {
    if (this.closed) return { ok: false, detail: 'closed' };
    try {
      this.store.s.ping.get();
      return { ok: true, detail: `sqlite ${this.store.file} (WAL, synchronous=${this.store.sync})` };
    } catch (error) {
      return { ok: false, detail: error instanceof Error ? error.message : String(error) };
    }
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      await Promise.all([...this.subscriptions].map((s) => s.close()));
      this.flushPublishes();
      try {
        this.store.flushCommits();
      } finally {
        await this.store.close();
      }
    })();
    return this.closed;
  }

  private assertOpen(): void {
    if (this.closed) throw new GatewayError('GW_ERR_BUS_UNAVAILABLE', 'The bus is closed');
  }
}
