/**
 * Projects audit entries into the search rows (audit_messages) for the SQLite store, behind the
 * appends rather than inside them: an append commit then writes only the entries (the search rows
 * are keyed by random message ids and carry seven indexes, so each upsert dirties pages all over the
 * file), and the ~13 events one message gets within moments fold into one row update.
 *
 * A run, in one IMMEDIATE transaction (so processes sharing the file take turns), reads per chain
 * the entries between its watermark (audit_projection) and the chain head, folds them in
 * (time, chain, seq) order (message-summary.ts, the status API's rules), and writes the rows and the
 * new watermarks together — a crash re-projects, never skips or doubles. Runs start a short while
 * after an append, or at once when many entries wait; the store calls catchUp() when it opens (to
 * repair what a crash left) and before every read of the rows, so a search sees everything appended
 * before it.
 *
 * What this process appended it keeps in memory until projected, so a run reads back from the file
 * only what other processes appended (or what it no longer holds).
 *
 * A message's events usually span two or three runs (the receipt comes later), so most rows a run
 * writes already exist, and the write is what costs: seven indexes, all keyed by first_time. A
 * run therefore inserts new rows and updates existing ones in only the columns that changed —
 * almost always the unindexed progress columns and status — so SQLite leaves the other indexes
 * alone. And it keeps the rows it wrote for the next run, which then reads back only rows it did
 * not write last (valid while nobody else projected in between: the watermarks say so).
 *
 * The fold's replay generations (message-summary.ts) live in two columns of their own (added in
 * place by the store to files made before them); the entries' detail is read only where the fold
 * reads it.
 */
import type Database from 'better-sqlite3';
import type { AuditEntry, ChainHead } from '../ports/audit-store.ts';
import { ChainTailMemory } from './chain-tail-memory.ts';
import {
  type FoldedEntry,
  foldEntry,
  GENERATION_KINDS,
  inEventOrder,
  type SummaryState,
} from './message-summary.ts';

const STATE_COLUMNS = `message_id AS messageId, first_time AS firstTime, last_time AS lastTime, status,
  progress_rank AS progressRank, progress_status AS progressStatus, failure_status AS failureStatus,
  message_type AS messageType, sender, receiver, sender_system AS senderSystem,
  receiver_system AS receiverSystem, digest, events, replay_generation AS replayGeneration,
  dead_letter_generation AS deadLetterGeneration`;

/** What a run needs of an entry: where it is in its chain, and what the fold reads. */
type ProjectedEntry = FoldedEntry & Pick<AuditEntry, 'chain' | 'seq'>;

/** An entry as read from the file: detail as stored (JSON text), and only for GENERATION_KINDS. */
type EntryRow = Omit<ProjectedEntry, 'detail'> & { detail: string | null };

/** Columns a later event of a message rarely changes (set once, or moved only by an earlier event). */
const SETTLED_COLUMNS = [
  'firstTime',
  'messageType',
  'sender',
  'receiver',
  'senderSystem',
  'receiverSystem',
  'digest',
] as const satisfies ReadonlyArray<keyof SummaryState>;

/** Rows kept from one run for the next at most (a backlog run writes more; then the next one reads). */
const MAX_KEPT_STATES = 20_000;

/**
 * Entries kept in memory for projection at most; beyond that the file is read instead. Runs start
 * at `eagerAfter`, so only failing runs (another process holding the lock) come near it.
 */
const MAX_REMEMBERED = 50_000;

export interface SqliteProjectorOptions {
  /** The head of every chain, read inside the projection transaction. */
  heads: () => ChainHead[];
  /** How long after an append the background run starts. Default 500 ms. */
  delayMs?: number;
  /** Entries waiting that start a run at once instead. Default 5,000. */
  eagerAfter?: number;
  /** Most entries per chain and run (bounds memory when a large backlog is projected). Default 20,000. */
  maxPerChain?: number;
}

export class SqliteMessageProjector {
  private readonly heads: () => ChainHead[];
  private readonly delayMs: number;
  private readonly eagerAfter: number;
  private readonly maxPerChain: number;
  private readonly selectWatermarks: Database.Statement<[], { chain: string; seq: number }>;
  private readonly selectEntries: Database.Statement<[string, number, number], EntryRow>;
  private readonly selectState: Database.Statement<[string], SummaryState>;
  private readonly insertState: Database.Statement;
  /** The update of an existing row, by which columns changed: every index a SET column is in is rewritten. */
  private readonly updateProgress: Database.Statement;
  private readonly updateProgressAndStatus: Database.Statement;
  private readonly updateAll: Database.Statement;
  /** The rows the last run wrote, and the watermarks it left; see the header. */
  private kept: { watermarks: Map<string, number>; states: Map<string, SummaryState> } | undefined;
  private readonly upsertWatermark: Database.Statement;
  private readonly project: Database.Transaction<() => number>;
  private timer: NodeJS.Timeout | undefined;
  private eager = false;
  private closed = false;
  /** Entries this process appended and has not projected yet (read back from memory, not the store). */
  private readonly remembered = new ChainTailMemory<ProjectedEntry>(MAX_REMEMBERED);

  constructor(db: Database.Database, options: SqliteProjectorOptions) {
    this.heads = options.heads;
    this.delayMs = options.delayMs ?? 500;
    this.eagerAfter = options.eagerAfter ?? 5000;
    this.maxPerChain = options.maxPerChain ?? 20_000;
    this.selectWatermarks = db.prepare('SELECT chain, seq FROM audit_projection');
    this.selectEntries = db.prepare(
      `SELECT chain, seq, time, kind, message_id AS messageId, sender, receiver, sender_system AS senderSystem,
         receiver_system AS receiverSystem, message_type AS messageType, digest,
         CASE WHEN kind IN (${GENERATION_KINDS.map((k) => `'${k}'`).join(', ')}) THEN detail END AS detail
       FROM audit_entries WHERE chain = ? AND seq > ? AND seq <= ? ORDER BY seq`,
    );
    this.selectState = db.prepare(`SELECT ${STATE_COLUMNS} FROM audit_messages WHERE message_id = ?`);
    this.insertState = db.prepare(
      `INSERT INTO audit_messages (message_id, first_time, last_time, status, progress_rank, progress_status,
         failure_status, message_type, sender, receiver, sender_system, receiver_system, digest, events,
         replay_generation, dead_letter_generation)
       VALUES (@messageId, @firstTime, @lastTime, @status, @progressRank, @progressStatus, @failureStatus,
         @messageType, @sender, @receiver, @senderSystem, @receiverSystem, @digest, @events,
         @replayGeneration, @deadLetterGeneration)`,
    );
    const progress = `last_time = @lastTime, progress_rank = @progressRank, progress_status = @progressStatus,
      failure_status = @failureStatus, events = @events, replay_generation = @replayGeneration,
      dead_letter_generation = @deadLetterGeneration`;
    this.updateProgress = db.prepare(`UPDATE audit_messages SET ${progress} WHERE message_id = @messageId`);
    this.updateProgressAndStatus = db.prepare(
      `UPDATE audit_messages SET ${progress}, status = @status WHERE message_id = @messageId`,
    );
    this.updateAll = db.prepare(
      `UPDATE audit_messages SET ${progress}, status = @status, first_time = @firstTime,
         message_type = @messageType, sender = @sender, receiver = @receiver, sender_system = @senderSystem,
         receiver_system = @receiverSystem, digest = @digest
       WHERE message_id = @messageId`,
    );
    this.upsertWatermark = db.prepare(
      'INSERT INTO audit_projection (chain, seq) VALUES (?, ?) ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq',
    );
    this.project = db.transaction(() => this.projectOnce());
  }

  /** Keeps committed entries (in seq order per chain) for the next run, and schedules it. */
  remember(entries: AuditEntry[]): void {
    if (entries.length === 0) return;
    this.remembered.remember(entries);
    this.schedule();
  }

  /** A run after the delay, or right after this event-loop turn once many entries wait. */
  private schedule(): void {
    if (this.closed) return;
    if (this.remembered.size >= this.eagerAfter) {
      if (this.eager) return;
      this.eager = true;
      setImmediate(() => {
        this.eager = false;
        this.background();
      });
      return;
    }
    this.later();
  }

  private later(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.background();
    }, this.delayMs);
    this.timer.unref();
  }

  private background(): void {
    if (this.closed) return;
    try {
      this.catchUp();
    } catch {
      // A failed run (typically: another process held the write lock past the busy timeout) wrote
      // nothing; the entries stay behind the watermark for the next try, and the catch-up before
      // the next search reports a failure that lasts.
      this.later();
    }
  }

  /** Projects everything committed so far; cheap (two reads) when nothing is behind. */
  catchUp(): void {
    while (this.behind(this.watermarks()).length > 0 && this.project.immediate() > 0) {}
  }

  /** How far each chain is projected. */
  private watermarks(): Map<string, number> {
    const done = new Map<string, number>();
    for (const w of this.selectWatermarks.all()) done.set(w.chain, w.seq);
    return done;
  }

  /** The chains whose head is past their watermark: (done, head]. */
  private behind(watermarks: Map<string, number>): Array<{ chain: string; done: number; head: number }> {
    const lag: Array<{ chain: string; done: number; head: number }> = [];
    for (const h of this.heads()) {
      const done = watermarks.get(h.chain) ?? 0;
      if (h.seq > done) lag.push({ chain: h.chain, done, head: h.seq });
    }
    return lag;
  }

  /** One run inside the projection transaction; the number of entries it projected. */
  private projectOnce(): number {
    const watermarks = this.watermarks();
    const kept = this.kept && sameWatermarks(this.kept.watermarks, watermarks) ? this.kept.states : undefined;
    this.kept = undefined; // set again below, once this run wrote its rows
    // What another process projected meanwhile is no longer needed here.
    for (const [chain, done] of watermarks) this.remembered.forget(chain, done);
    const lag = this.behind(watermarks);
    const entries: ProjectedEntry[] = [];
    const upTo = lag.map((l) => Math.min(l.head, l.done + this.maxPerChain));
    lag.forEach((l, i) => {
      const local = this.remembered.recall(l.chain, l.done, upTo[i]!);
      if (local) {
        for (const e of local) if (e.messageId !== null) entries.push(e);
      } else {
        for (const e of this.selectEntries.all(l.chain, l.done, upTo[i]!)) {
          if (e.messageId === null) continue;
          entries.push(e.detail === null ? (e as ProjectedEntry) : { ...e, detail: JSON.parse(e.detail) });
        }
      }
    });
    // The status API's order (gateway/pipeline/status.ts): only time orders events across chains.
    entries.sort(inEventOrder);
    // Each message read once and written once per run, however many of its events the run folds.
    const stored = new Map<string, SummaryState | undefined>();
    const states = new Map<string, SummaryState>();
    for (const entry of entries) {
      const id = entry.messageId!;
      let state = states.get(id);
      if (state === undefined) {
        const before = kept?.get(id) ?? this.selectState.get(id);
        stored.set(id, before);
        state = before;
      }
      states.set(id, foldEntry(state, entry));
    }
    for (const [id, state] of states) this.write(stored.get(id), state);
    for (let i = 0; i < lag.length; i++) {
      this.upsertWatermark.run(lag[i]!.chain, upTo[i]!);
      watermarks.set(lag[i]!.chain, upTo[i]!);
      // Forgotten before the COMMIT: if it fails, the next run reads these entries from the file.
      this.remembered.forget(lag[i]!.chain, upTo[i]!);
    }
    // If the COMMIT fails, the file keeps the old watermarks, which then do not match these.
    if (states.size <= MAX_KEPT_STATES) this.kept = { watermarks, states };
    return upTo.reduce((n, to, i) => n + (to - lag[i]!.done), 0);
  }

  /** Writes a folded row: a new one whole, an existing one in the columns that changed. */
  private write(before: SummaryState | undefined, after: SummaryState): void {
    if (before === undefined) this.insertState.run(after);
    else if (SETTLED_COLUMNS.some((column) => before[column] !== after[column])) this.updateAll.run(after);
    else if (before.status !== after.status) this.updateProgressAndStatus.run(after);
    else this.updateProgress.run(after);
  }

  /** Stops background runs; what is not projected yet the next catch-up (or open) takes. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.remembered.clear();
    this.kept = undefined;
  }
}

function sameWatermarks(a: Map<string, number>, b: Map<string, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [chain, seq] of a) if (b.get(chain) !== seq) return false;
  return true;
}
