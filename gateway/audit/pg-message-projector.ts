/**
 * Projects audit entries into the search rows (audit_messages) for the PostgreSQL store, behind the
 * appends rather than inside them: appends stay lean (hash chain and insert only), and the events
 * one message gets within a short time become one row update instead of one per event.
 *
 * One projector runs at a time per schema (transaction-scoped advisory lock); each run reads, per
 * chain, the entries between its watermark (audit_projection) and the chain head, folds them in
 * (time, chain, seq) order (message-summary.ts, the status API's rules), writes the rows and the new
 * watermarks in the same transaction — so a crash re-projects, never skips or doubles. Searches call
 * catchUp() first, so a search sees everything appended before it.
 *
 * What this process appended it keeps in memory until projected, so a run reads back from the
 * database only what other processes appended (or what it no longer holds). The entries' detail
 * is read only where the fold reads it (the replay generations, message-summary.ts).
 */
import type pg from 'pg';
import { inTransaction, intArrayLiteral, textArrayLiteral } from '../db/postgres.ts';
import type { AuditEntry } from '../ports/audit-store.ts';
import { ChainTailMemory } from './chain-tail-memory.ts';
import {
  type FoldedEntry,
  foldEntry,
  GENERATION_KINDS,
  inEventOrder,
  type SummaryState,
} from './message-summary.ts';

const STATE_COLUMNS = `message_id AS "messageId", first_time AS "firstTime", last_time AS "lastTime", status,
  progress_rank AS "progressRank", progress_status AS "progressStatus", failure_status AS "failureStatus",
  message_type AS "messageType", sender, receiver, sender_system AS "senderSystem",
  receiver_system AS "receiverSystem", digest, events, replay_generation AS "replayGeneration",
  dead_letter_generation AS "deadLetterGeneration"`;

/** What a run needs of an entry: where it is in its chain, and what the fold reads. */
type ProjectedEntry = FoldedEntry & Pick<AuditEntry, 'chain' | 'seq'>;

const SQL = {
  lag: `SELECT c.chain, COALESCE(p.seq, 0) AS done, c.seq AS head FROM audit_chains c
    LEFT JOIN audit_projection p ON p.chain = c.chain WHERE c.seq > COALESCE(p.seq, 0) ORDER BY c.chain`,
  entries: `SELECT e.chain, e.seq, e.time, e.kind, e.message_id AS "messageId", e.sender, e.receiver,
      e.sender_system AS "senderSystem", e.receiver_system AS "receiverSystem", e.message_type AS "messageType",
      e.digest, CASE WHEN e.kind = ANY($4::text[]) THEN e.detail END AS detail
    FROM audit_entries e JOIN unnest($1::text[], $2::int8[], $3::int8[]) AS r(chain, lo, hi)
    ON e.chain = r.chain AND e.seq > r.lo AND e.seq <= r.hi WHERE e.message_id IS NOT NULL`,
  states: `SELECT ${STATE_COLUMNS} FROM audit_messages WHERE message_id = ANY($1::text[])`,
  upsert: `INSERT INTO audit_messages (message_id, first_time, last_time, status, progress_rank, progress_status,
      failure_status, message_type, sender, receiver, sender_system, receiver_system, digest, events,
      replay_generation, dead_letter_generation)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int2[], $6::text[], $7::text[],
      $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::int4[], $15::int4[],
      $16::int4[])
    ON CONFLICT (message_id) DO UPDATE SET first_time = excluded.first_time, last_time = excluded.last_time,
      status = excluded.status, progress_rank = excluded.progress_rank, progress_status = excluded.progress_status,
      failure_status = excluded.failure_status, message_type = excluded.message_type, sender = excluded.sender,
      receiver = excluded.receiver, sender_system = excluded.sender_system,
      receiver_system = excluded.receiver_system, digest = excluded.digest, events = excluded.events,
      replay_generation = excluded.replay_generation, dead_letter_generation = excluded.dead_letter_generation`,
  watermarks: `INSERT INTO audit_projection (chain, seq) SELECT * FROM unnest($1::text[], $2::int8[])
    ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq`,
};

const LOCK = 'SELECT pg_advisory_xact_lock(hashtext(current_schema() || $1))';
const TRY_LOCK = 'SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || $1)) AS locked';
const LOCK_NAME = ':audit-projection';
/** Entries kept in memory for projection at most; beyond that the database is read instead. */
const MAX_REMEMBERED = 200_000;

export interface ProjectorOptions {
  /** Most entries per chain and run. Default 20,000. */
  maxPerChain?: number;
  /** How long after an append the background run starts. Default 500 ms. */
  delayMs?: number;
}

export class PgMessageProjector {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private closed = false;
  private readonly maxPerChain: number;
  private readonly delayMs: number;
  /** Entries this process appended and has not projected yet (read back from memory, not the store). */
  private readonly remembered = new ChainTailMemory<AuditEntry>(MAX_REMEMBERED);

  constructor(
    private readonly pool: pg.Pool,
    options: ProjectorOptions = {},
  ) {
    this.maxPerChain = options.maxPerChain ?? 20_000;
    this.delayMs = options.delayMs ?? 500;
  }

  /** Keeps committed entries (in seq order per chain) for the next run, and schedules it. */
  remember(entries: AuditEntry[]): void {
    this.remembered.remember(entries);
    this.schedule();
  }

  /** Asks for a background run soon (appends call this); runs are coalesced. */
  schedule(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.background();
    }, this.delayMs);
    this.timer.unref();
  }

  private async background(): Promise<void> {
    try {
      // Another process holding the lock, or more to do: look again shortly.
      const projected = await this.once(false);
      if (projected !== 0) this.schedule();
    } catch {
      this.schedule();
    }
  }

  /** Projects everything appended so far (waits for another process's run if one is going on). */
  async catchUp(): Promise<void> {
    while ((await this.once(true)) > 0) {}
  }

  /** One run; the number of entries projected, -1 if another process holds the lock. */
  private once(wait: boolean): Promise<number> {
    // One run per process at a time; a second caller waits for it and then runs itself.
    const previous = this.running ?? Promise.resolve(0);
    const run = previous.catch(() => 0).then(() => this.project(wait));
    this.running = run;
    void run
      .finally(() => {
        if (this.running === run) this.running = undefined;
      })
      .catch(() => {});
    return run;
  }

  private async project(wait: boolean): Promise<number> {
    let projected: Array<{ chain: string; upTo: number }> = [];
    const count = await inTransaction(this.pool, async (client) => {
      if (wait) await client.query(LOCK, [LOCK_NAME]);
      else if (!(await client.query<{ locked: boolean }>(TRY_LOCK, [LOCK_NAME])).rows[0]!.locked) return -1;
      const lag = (
        await client.query<{ chain: string; done: number; head: number }>({
          name: 'projector-lag',
          text: SQL.lag,
        })
      ).rows;
      if (lag.length === 0) return 0;
      const upTo = lag.map((l) => Math.min(l.head, l.done + this.maxPerChain));
      const entries: ProjectedEntry[] = [];
      const toRead: number[] = [];
      lag.forEach((l, i) => {
        const local = this.remembered.recall(l.chain, l.done, upTo[i]!);
        if (local) {
          for (const e of local) if (e.messageId !== null) entries.push(e);
        } else toRead.push(i);
      });
      if (toRead.length > 0) {
        const read = await client.query<Omit<ProjectedEntry, 'detail'> & { detail: string | null }>({
          name: 'projector-entries',
          text: SQL.entries,
          values: [
            toRead.map((i) => lag[i]!.chain),
            toRead.map((i) => lag[i]!.done),
            toRead.map((i) => upTo[i]!),
            GENERATION_KINDS,
          ],
        });
        for (const e of read.rows) {
          entries.push(e.detail === null ? (e as ProjectedEntry) : { ...e, detail: JSON.parse(e.detail) });
        }
      }
      entries.sort(inEventOrder);
      const ids = [...new Set(entries.map((e) => e.messageId!))];
      const states = new Map<string, SummaryState>();
      if (ids.length > 0) {
        for (const s of (
          await client.query<SummaryState>({ name: 'projector-states', text: SQL.states, values: [ids] })
        ).rows) {
          states.set(s.messageId, s);
        }
      }
      for (const entry of entries)
        states.set(entry.messageId!, foldEntry(states.get(entry.messageId!), entry));
      if (states.size > 0) {
        const rows = [...states.values()].sort((a, b) => (a.messageId < b.messageId ? -1 : 1));
        const text = (pick: (s: SummaryState) => string | null) => textArrayLiteral(rows.map(pick));
        await client.query({
          name: 'projector-upsert',
          text: SQL.upsert,
          values: [
            text((s) => s.messageId),
            text((s) => s.firstTime),
            text((s) => s.lastTime),
            text((s) => s.status),
            intArrayLiteral(rows.map((s) => s.progressRank)),
            text((s) => s.progressStatus),
            text((s) => s.failureStatus),
            text((s) => s.messageType),
            text((s) => s.sender),
            text((s) => s.receiver),
            text((s) => s.senderSystem),
            text((s) => s.receiverSystem),
            text((s) => s.digest),
            intArrayLiteral(rows.map((s) => s.events)),
            generationsLiteral(rows.map((s) => s.replayGeneration)),
            generationsLiteral(rows.map((s) => s.deadLetterGeneration)),
          ],
        });
      }
      await client.query({
        name: 'projector-watermarks',
        text: SQL.watermarks,
        values: [lag.map((l) => l.chain), upTo],
      });
      projected = lag.map((l, i) => ({ chain: l.chain, upTo: upTo[i]! }));
      return upTo.reduce((n, to, i) => n + (to - lag[i]!.done), 0);
    });
    for (const p of projected) this.remembered.forget(p.chain, p.upTo);
    return count;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.remembered.clear();
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.running) await this.running.catch(() => 0);
  }
}

/** An int4[] literal whose elements may be NULL (no generation recorded). */
function generationsLiteral(values: Array<number | null | undefined>): string {
  return `{${values.map((v) => (v === null || v === undefined ? 'NULL' : String(v))).join(',')}}`;
}
