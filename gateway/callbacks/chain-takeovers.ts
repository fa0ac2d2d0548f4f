/**
 * Taking over a chain another process wrote to. A process that crashed after appending an entry
 * and before its callback reached the bus leaves it after the chain's stored watermark; another
 * process appending after it would pass that entry with its own mark, nobody replaying it (the gap
 * named in callback-watermarks.ts).
 *
 * So every entry this process appends is compared with the last one it appended to that chain (or
 * what the catch-up at its start covered, or nothing for a chain it did not know then): right after
 * it, nobody else wrote in between and nothing is owed (the hot case: one map lookup, no store is
 * read). Otherwise another process wrote the entries in between — the gap — and the callbacks of
 * those after the chain's stored mark S, except this process's own, are handed to the dispatcher
 * again, the same path the catch-up takes, at least once (receivers drop repeats by event id).
 * Until they are, the chain's mark is held below the gap; this process's own entries before it
 * are not held up, and nothing above the entry that found the gap is replayed or passed. A gap is
 * read like the catch-up reads a chain (owed-callbacks.ts): its most recent CATCH_UP_WINDOW seqs,
 * one cut-off for every kind; callbacks owed before them are not sent again, with the same warning.
 *
 * Partition chains (pipeline/delivery-audit.ts, isPartitionChain) have one writer at a time, the
 * holder of the topic-partition, and every gap on them is replayed, replayDelayMs after it was
 * found: by then the previous writer's stored mark, if it is alive, has passed what it appended
 * (marks are written markLagMs after a publish), so S lies past those entries and only what a
 * crashed writer left is sent again. A rebalance or crash turn so costs no duplicates once the
 * marks caught up; a brief overlap during a rebalance, both writing, may re-send a few (each holds
 * its merged mark below the other's entries). Gaps found while one waits go to the next gap, whose
 * wait begins when that one's ends: at most one replay (one mark read, one query per callback kind)
 * per chain and replayDelayMs. The entries this process appends while a gap of the chain is
 * unreplayed are remembered as its own and never replayed — also one whose listener ran after a
 * later one's, which looked like a gap. Why not a hook on the bus's revocation: the Bus port tells
 * nobody about assignments (ports/bus.ts); the seqs say "someone else wrote here" exactly.
 *
 * The main chain (`audit.chain`) — one per replica in the shipped deployments, but replicas on one
 * PostgreSQL may share one, whose appends then interleave all the time — is decided at its first
 * touch (its first gap replayed, or a first append right after the catch-up) and not looked at
 * again: a replay per interleave would re-send live writers' callbacks. Still open where replicas
 * share it: a callback a replica loses by crashing after another replica's first touch is passed by
 * the other's mark. The shipped manifests give each replica its own stably named chain
 * (deploy/README.md, "One audit chain per replica"); marks per writing process would close it for
 * a shared chain too.
 *
 * A replay under way when the partition leaves again is harmless: it reads only up to the entry
 * that found its gap, hands over what another writer may have left (again at worst), and holds
 * only this process's mark, which never passes what this process did not see.
 */
import type { Logger } from '../log/logger.ts';
import { isPartitionChain } from '../pipeline/delivery-audit.ts';
import type { AuditEntry, AuditStore } from '../ports/audit-store.ts';
import type { CallbackWatermarks } from './callback-watermarks.ts';
import { CATCH_UP_WINDOW, OLDER_NOT_SENT, owedCallbacks, windowStart } from './owed-callbacks.ts';

/** A chain that is not looked at again (not a partition's chain, its first touch decided). */
const DECIDED = 'decided';

/** Entries another process appended between two of this process's, replayed together. */
interface Gap {
  from: number;
  to: number;
  /** Releases the chain's mark from below `from` (true: handed over; false: the replay failed). */
  handedOver: (done: boolean) => void;
}

interface ChainState {
  /** The highest seq this process appended to the chain, or up to which the catch-up covered it. */
  last: number;
  /** Whether every gap is replayed (a partition's chain), or only one at the first touch. */
  everyGap: boolean;
  /** While any gap of the chain is not yet replayed: the seqs this process appended meanwhile. */
  own: Set<number> | undefined;
  /** Gaps found and not yet replayed (waiting, next, or reading), in the order found. */
  unreplayed: Gap[];
  /** The gap whose replay waits out replayDelayMs; nothing is added to it any more. */
  waiting: { gap: Gap; start: () => void } | undefined;
  /** The gaps found while one waits, merged: replayed replayDelayMs after that wait ends. */
  next: Gap | undefined;
}

export class ChainTakeovers {
  private readonly chains = new Map<string, ChainState | typeof DECIDED>();
  /** Per chain, up to which seq the catch-up at the start handed its callbacks over. */
  private readonly covered = new Map<string, number>();
  private readonly pending = new Set<Promise<void>>();
  private readonly replayDelayMs: number;

  constructor(
    private readonly deps: {
      store: AuditStore;
      watermarks: CallbackWatermarks;
      /** Hands one entry to the callbacks (message-follow-ups.ts). */
      handOver: (entry: AuditEntry) => void;
      logger: Logger;
      window?: number;
      /** How long the replay of a gap waits (default: twice the time a live writer's mark takes to be written). */
      replayDelayMs?: number;
    },
  ) {
    this.replayDelayMs = deps.replayDelayMs ?? 2 * deps.watermarks.markLagMs;
  }

  /** The catch-up handed over every callback owed on `chain` up to `seq`. */
  caughtUp(chain: string, seq: number): void {
    if ((this.covered.get(chain) ?? 0) < seq) this.covered.set(chain, seq);
    const state = this.chains.get(chain);
    if (state !== undefined && state !== DECIDED && state.last < seq) state.last = seq;
  }

  /** An entry this process appended (or re-appended), before it is handed over. */
  appended(entry: AuditEntry): void {
    const state = this.chains.get(entry.chain);
    if (state === DECIDED) return;
    // The hot case: right after this process's last entry on the chain, no gap unreplayed.
    if (state !== undefined && state.own === undefined && entry.seq === state.last + 1) {
      state.last = entry.seq;
      return;
    }
    this.notRightAfter(entry, state);
  }

  /** Resolves once every gap found has been replayed (or its replay failed); none waits any longer. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) {
      // Waiting gaps start now; a next gap, made the waiting one as that starts, at the next turn.
      for (const state of this.chains.values()) if (state !== DECIDED) state.waiting?.start();
      await Promise.race(this.pending);
    }
  }

  private notRightAfter(entry: AuditEntry, known: ChainState | undefined): void {
    let state = known;
    if (state === undefined) {
      const covered = this.covered.get(entry.chain) ?? 0;
      // At or below the covered part (a re-append): this entry moves the mark past nothing uncovered.
      if (entry.seq <= covered) return;
      state = {
        last: covered,
        everyGap: isPartitionChain(entry.chain),
        own: undefined,
        unreplayed: [],
        waiting: undefined,
        next: undefined,
      };
      this.chains.set(entry.chain, state);
    }
    state.own?.add(entry.seq);
    // A re-append, or an entry of this process whose listener ran after a later one's.
    if (entry.seq <= state.last) return;
    const from = state.last + 1;
    state.last = entry.seq;
    // The main chain: only its first touch is looked at; what follows while that gap waits is not.
    const firstTouch = state.unreplayed.length === 0;
    if (entry.seq > from && (state.everyGap || firstTouch))
      this.found(entry.chain, state, from, entry.seq - 1);
    else if (!state.everyGap && firstTouch) this.chains.set(entry.chain, DECIDED);
  }

  /** Another process appended `from`..`to`; the entry after them is this process's. */
  private found(chain: string, state: ChainState, from: number, to: number): void {
    // The entry that found the gap is this process's own: the replay of a gap merged with it skips it.
    state.own ??= new Set();
    state.own.add(to + 1);
    if (state.next) {
      // Found after the waiting gap's wait began: not old enough for that replay, merged into the next.
      state.next.to = to;
      return;
    }
    const gap = this.holdBelow(chain, state, from, to);
    if (state.waiting) state.next = gap;
    else this.wait(chain, state, gap);
  }

  /** A gap not yet replayed: the chain's mark is held below it like a callback being published. */
  private holdBelow(chain: string, state: ChainState, from: number, to: number): Gap {
    let handedOver!: (done: boolean) => void;
    // If the replay fails, like a callback that could not be published: never passed by this
    // process, the next start replays it.
    this.deps.watermarks.publishing(chain, from, new Promise<boolean>((resolve) => (handedOver = resolve)));
    const gap = { from, to, handedOver };
    state.unreplayed.push(gap);
    return gap;
  }

  /** Replays `gap` after replayDelayMs: a live writer's stored mark has passed its entries by then. */
  private wait(chain: string, state: ChainState, gap: Gap): void {
    let start!: () => void;
    const waited = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.replayDelayMs);
      start = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    state.waiting = { gap, start };
    const replay = waited
      .then(() => {
        state.waiting = undefined;
        // The gaps found during this wait are all older than their own wait, which begins now.
        const next = state.next;
        state.next = undefined;
        if (next) this.wait(chain, state, next);
        return this.handOverGap(chain, gap, state.own!);
      })
      .then(
        () => gap.handedOver(true),
        (error: unknown) => {
          gap.handedOver(false);
          this.deps.logger.error(
            { err: error, chain },
            'replaying the callbacks of a chain another process wrote to failed',
          );
        },
      )
      .finally(() => {
        this.pending.delete(replay);
        this.replayed(chain, state, gap);
      });
    this.pending.add(replay);
  }

  /** Forgets the own entries no gap left to replay covers: while turns go on, `own` never empties. */
  private replayed(chain: string, state: ChainState, gap: Gap): void {
    state.unreplayed.splice(state.unreplayed.indexOf(gap), 1);
    const lowest = state.unreplayed[0];
    if (lowest === undefined) {
      state.own = undefined;
      if (!state.everyGap) this.chains.set(chain, DECIDED);
    } else for (const seq of state.own!) if (seq < lowest.from) state.own!.delete(seq);
  }

  private async handOverGap(chain: string, gap: Gap, own: ReadonlySet<number>): Promise<void> {
    const stored = await this.deps.watermarks.storedMark(chain);
    // Where watermarks were never kept nothing is owed (callback-watermarks.ts, startingPoints).
    if (stored === undefined) return;
    const owedFrom = Math.max(stored + 1, gap.from);
    if (owedFrom > gap.to) return;
    // The window rule of the catch-up (owed-callbacks.ts): the most recent entries of the gap.
    const window = this.deps.window ?? CATCH_UP_WINDOW;
    const fromSeq = Math.max(owedFrom, windowStart(gap.to, window));
    if (owedFrom < fromSeq)
      this.deps.logger.warn({ chain, watermark: stored, fromSeq, gap: [gap.from, gap.to] }, OLDER_NOT_SENT);
    const entries = await owedCallbacks(this.deps.store, chain, fromSeq, gap.to, window);
    const owed = entries.filter((entry) => !own.has(entry.seq));
    for (const entry of owed) this.deps.handOver(entry);
    if (owed.length > 0)
      this.deps.logger.warn(
        { chain, watermark: stored, from: fromSeq, to: gap.to, callbacks: owed.length },
        'handed the callbacks another process appended to a chain to the dispatcher again',
      );
  }
}
