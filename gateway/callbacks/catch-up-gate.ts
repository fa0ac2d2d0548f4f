/**
 * Holds the audit listener's callbacks of a chain until the start-up catch-up (catch-up.ts) has
 * covered that chain. Without it an entry appended while the catch-up is under way was handed over
 * twice: by the listener, and again by the catch-up (its heads were read after the append) or by
 * the takeover replay (chain-takeovers.ts) that the listener's entry set off on a chain the catch-up
 * had not yet marked as covered — the same event ids, dropped by receivers, but sent twice.
 *
 * Per chain, the catch-up tells the range it handed over itself ([from, to]). Held entries in that
 * range are done with; the others — later appends, and the rare one the range leaves out (at or
 * below the stored mark, or before the catch-up window) — go on, in the order they came. An entry
 * of a covered range whose listener runs only after the catch-up read it is dropped too (for
 * LATE_LISTENER_MS after the catch-up; then the listener's path is one check again). A catch-up
 * that fails holds its uncovered chains until an attempt covers them (catch-up-retry.ts), so
 * nothing is lost; the chains it did cover pass at once and are not handed over again. Held
 * entries are not handed to the watermarks yet, which write nothing before the catch-up is done
 * (callback-watermarks.ts, release()): a process that stops while holding loses nothing either.
 *
 * Only callbacks wait, never a stage: receipts and answer deadlines take the entry at once. A
 * catch-up that keeps failing must not hold without end: past `limit` held entries everything
 * held goes on, and the gate stays open — as before, at least once (the catch-up that succeeds
 * later may hand some again), never lost.
 */
import type { Logger } from '../log/logger.ts';
import type { AuditEntry } from '../ports/audit-store.ts';

/** Held entries at most (about one catch-up window of appends while it fails). */
export const HOLD_LIMIT = 10_000;

/**
 * How long after the catch-up a late listener of an entry it read is still looked for: the
 * listener runs a few microtasks after the append's commit, so seconds are ample; after that no
 * covered range is looked up per entry.
 */
export const LATE_LISTENER_MS = 10_000;

export class CatchUpGate {
  /** Every chain passes: the catch-up is done (or holding gave up). */
  private open = false;
  /** Per chain the catch-up covered, the range it handed over itself. */
  private readonly covered = new Map<string, { from: number; to: number }>();
  /** Entries of chains not yet covered, in the order the listener saw them. */
  private held: AuditEntry[] = [];
  private readonly limit: number;
  private readonly lateListenerMs: number;
  private lateListeners: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      /** The listener's callback path: the takeover check and the hand-over (message-follow-ups.ts). */
      pass: (entry: AuditEntry) => void;
      logger: Logger;
      limit?: number;
      lateListenerMs?: number;
    },
  ) {
    this.limit = deps.limit ?? HOLD_LIMIT;
    this.lateListenerMs = deps.lateListenerMs ?? LATE_LISTENER_MS;
  }

  /** An entry from the audit listener: passed on now, held, or dropped as the catch-up's. */
  admit(entry: AuditEntry): void {
    if (this.open && this.covered.size === 0) {
      this.deps.pass(entry);
      return;
    }
    const range = this.covered.get(entry.chain);
    if (range !== undefined) {
      if (entry.seq < range.from || entry.seq > range.to) this.deps.pass(entry);
      return;
    }
    if (this.open) {
      this.deps.pass(entry);
      return;
    }
    this.held.push(entry);
    if (this.held.length > this.limit) {
      this.deps.logger.warn(
        { held: this.held.length },
        'the start-up catch-up of callbacks is not done yet; the held callbacks go on, some may be sent twice',
      );
      this.passAll();
    }
  }

  /** Whether an earlier attempt of the catch-up covered `chain` (it is not handed over again). */
  isCovered(chain: string): boolean {
    return this.covered.has(chain);
  }

  /** The catch-up handed over the callbacks owed on `chain` up to `to`, those from `from` on itself. */
  caughtUp(chain: string, from: number, to: number): void {
    this.covered.set(chain, { from, to });
    if (this.held.length === 0) return;
    const still: AuditEntry[] = [];
    const now: AuditEntry[] = [];
    for (const entry of this.held) (entry.chain === chain ? now : still).push(entry);
    this.held = still;
    for (const entry of now) this.admit(entry);
  }

  /** The catch-up is done: what is held goes on (chains it did not know), every chain passes from now on. */
  openAll(): void {
    this.passAll();
    this.lateListeners ??= setTimeout(() => this.covered.clear(), this.lateListenerMs).unref();
  }

  private passAll(): void {
    if (this.open) return;
    this.open = true;
    const held = this.held;
    this.held = [];
    for (const entry of held) this.admit(entry);
  }

  /** Entries held (tests). */
  get holding(): number {
    return this.held.length;
  }
}
