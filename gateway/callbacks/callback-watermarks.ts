/**
 * The callback watermarks of this process: per audit chain, the highest seq N such that every entry
 * up to N that this process handed to the callbacks has its callback on the bus (or needed none).
 * They close the window between the durable audit append and the durable publish of a callback
 * (notifying-audit-log.ts): at the next start, catch-up.ts hands the callbacks of the entries after
 * each chain's watermark to the dispatcher again.
 *
 * Off the hot path: handing an entry over is a map update; the watermarks are written at most every
 * `intervalMs` (one transaction for all chains that moved, nothing when none did). A written mark is
 * one that has been clear for `settleMs`: two processes may append to one chain (a shared
 * GATEWAY_AUDIT_CHAIN, a partition's chain after a rebalance) and each sees only its own entries,
 * so a mark written at once could pass another process's entry whose publish is still under way;
 * after `settleMs` that publish has long resolved. It also covers an append that resolved a moment
 * after a later one of the same chain. At a clean stop every publish has resolved and the exact
 * marks are written.
 *
 * Where another process appended to a chain between two of this process's entries, the mark is
 * held below those entries until their callbacks after the stored mark are handed over again
 * (chain-takeovers.ts). Partition chains have one writer at a time, and every gap on them is
 * replayed after replayDelayMs: a rebalance or crash turn costs no duplicates once the marks caught
 * up; a brief overlap during a rebalance may re-send a few. The main chain (`audit.chain`) is
 * decided at its first touch. Where replicas share one, a case stays open: a callback a replica
 * loses by crashing after another replica's first touch is passed by the other's mark. The shipped
 * deployments give each replica its own chain under a stable name (deploy/README.md, "One audit
 * chain per replica"); marks per writing process would close it for a shared chain too.
 *
 * A callback that could not be put on the bus (counted `not-queued` by the dispatcher) holds its
 * chain's watermark below it for the life of the process, so the next start sends it again.
 *
 * At least once: a replayed callback whose publish had in fact succeeded before the crash (or
 * after the last written mark) is on the bus twice, with the same event id (derived from the audit
 * entry alone, callback-event.ts); receivers drop the duplicate by that id.
 */
import type { Logger } from '../log/logger.ts';
import type { ChainHead } from '../ports/audit-store.ts';
import type { CallbackWatermarkStore } from './callback-watermark-store.ts';

export interface CallbackWatermarksOptions {
  store: CallbackWatermarkStore;
  logger: Logger;
  /** Least time between two writes (default 100 ms). */
  intervalMs?: number;
  /** How long a mark must have been clear before it is written (default 1 s; see above). */
  settleMs?: number;
  now?: () => number;
}

interface ChainProgress {
  /** Highest seq handed over, with a callback or without. */
  seen: number;
  /** Seqs whose callback is being published, with how many times (an idempotent re-append hands an entry again). */
  publishing: Map<number, number>;
  /** Lowest seq whose callback could not be put on the bus. */
  lost: number;
}

export class CallbackWatermarks {
  private readonly chains = new Map<string, ChainProgress>();
  /** Marks as they were at each tick of the last `settleMs`, oldest first. */
  private readonly history: { at: number; marks: Map<string, number> }[] = [];
  private readonly written = new Map<string, number>();
  /** Publishes handed over and not yet resolved (`queued` never rejects), and who waits for none to be left. */
  private unsettled = 0;
  private allSettled: (() => void) | undefined;
  private readonly intervalMs: number;
  private readonly settleMs: number;
  private readonly now: () => number;
  /** Nothing is written until the catch-up has handed over what the last process left (release()). */
  private released = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: CallbackWatermarksOptions) {
    this.intervalMs = options.intervalMs ?? 100;
    this.settleMs = options.settleMs ?? 1000;
    this.now = options.now ?? Date.now;
  }

  get storeKind(): CallbackWatermarkStore['kind'] {
    return this.options.store.kind;
  }

  /** How long after a publish resolved its mark is written at the latest (in any process with these settings). */
  get markLagMs(): number {
    return this.settleMs + this.intervalMs;
  }

  /**
   * Per chain of `heads`, the seq after which callbacks are owed: its stored watermark (0 for a
   * chain without one). Where watermarks were never kept (a fresh deployment, or the first start
   * with them) nothing is owed: the heads are stored as the watermarks and returned.
   */
  async startingPoints(heads: ChainHead[]): Promise<Map<string, number>> {
    const stored = await this.options.store.read();
    if (stored) return new Map(heads.map((h) => [h.chain, stored.get(h.chain) ?? 0]));
    const marks = new Map(heads.map((h) => [h.chain, h.seq]));
    await this.options.store.advance(marks);
    for (const [chain, seq] of marks) this.written.set(chain, seq);
    return marks;
  }

  /** An entry (or, from the catch-up, every entry up to `seq`) that needs no callback published. */
  passed(chain: string, seq: number): void {
    const progress = this.progressOf(chain);
    if (seq > progress.seen) progress.seen = seq;
  }

  /** An entry whose callback is being published: `queued` resolves true once it is on the bus. */
  publishing(chain: string, seq: number, queued: Promise<boolean>): void {
    const progress = this.progressOf(chain);
    if (seq > progress.seen) progress.seen = seq;
    progress.publishing.set(seq, (progress.publishing.get(seq) ?? 0) + 1);
    this.unsettled++;
    void queued.then((onTheBus) => {
      const left = progress.publishing.get(seq)! - 1;
      if (left === 0) progress.publishing.delete(seq);
      else progress.publishing.set(seq, left);
      if (!onTheBus && seq < progress.lost) progress.lost = seq;
      if (--this.unsettled === 0) this.allSettled?.();
    });
  }

  /** The stored watermark of `chain` (0 if it has none); undefined where watermarks were never kept. */
  async storedMark(chain: string): Promise<number | undefined> {
    return this.options.store.readMark(chain);
  }

  /** Starts writing the watermarks: the catch-up has handed over every chain's owed callbacks. */
  release(): void {
    if (this.released || this.stopped) return;
    this.released = true;
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** Writes the exact marks once every publish handed over has resolved, then closes the store. */
  stop(): Promise<void> {
    this.stopping ??= this.finish();
    return this.stopping;
  }

  private async finish(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    if (this.unsettled > 0) await new Promise<void>((resolve) => (this.allSettled = resolve));
    await this.writing;
    if (this.released) await this.write(this.clearMarks());
    await this.options.store.close();
  }

  private progressOf(chain: string): ChainProgress {
    let progress = this.chains.get(chain);
    if (!progress) {
      progress = { seen: 0, publishing: new Map(), lost: Number.POSITIVE_INFINITY };
      this.chains.set(chain, progress);
    }
    return progress;
  }

  /** Per chain, the highest seq up to which nothing this process handed over is unpublished. */
  private clearMarks(): Map<string, number> {
    const marks = new Map<string, number>();
    for (const [chain, progress] of this.chains) {
      let mark = Math.min(progress.seen, progress.lost - 1);
      for (const seq of progress.publishing.keys()) if (seq - 1 < mark) mark = seq - 1;
      marks.set(chain, mark);
    }
    return marks;
  }

  private tick(): void {
    if (this.writing) return;
    const now = this.now();
    const current = this.clearMarks();
    this.history.push({ at: now, marks: current });
    // The newest marks that are at least settleMs old; older ones are needed no more.
    let settledAt = -1;
    for (let i = 0; i < this.history.length && this.history[i]!.at <= now - this.settleMs; i++) settledAt = i;
    if (settledAt < 0) return;
    this.history.splice(0, settledAt);
    const settled = this.history[0]!.marks;
    const moved = new Map<string, number>();
    for (const [chain, mark] of settled) {
      // Never past what is clear now (a publish handed over since, for an entry at or below the old mark).
      const capped = Math.min(mark, current.get(chain) ?? mark);
      if (capped > (this.written.get(chain) ?? -1)) moved.set(chain, capped);
    }
    if (moved.size > 0) this.writing = this.write(moved).finally(() => (this.writing = undefined));
  }

  private async write(marks: Map<string, number>): Promise<void> {
    const moved = new Map([...marks].filter(([chain, seq]) => seq > (this.written.get(chain) ?? -1)));
    if (moved.size === 0) return;
    try {
      await this.options.store.advance(moved);
      for (const [chain, seq] of moved) this.written.set(chain, seq);
    } catch (error) {
      // The next tick tries again; until then a restart would only send more callbacks again.
      this.options.logger.warn({ err: error }, 'callback watermarks could not be written');
    }
  }
}
