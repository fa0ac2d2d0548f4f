/**
 * Taking over a chain another process wrote to: delivery events go to per-partition chains
 * (pipeline/delivery-audit.ts) that move with the partition on a rebalance. A process that crashed
 * after appending an entry and before its callback reached the bus leaves it after the chain's
 * stored watermark; the process that takes the partition over appends after it, and its own mark
 * would pass that entry with nobody replaying it (the gap named in callback-watermarks.ts).
 *
 * So every entry this process appends is compared with the last one it appended to that chain (or
 * what the catch-up at its start covered, or nothing for a chain it did not know then): right after
 * it, nobody else wrote in between and nothing is owed (the hot case: one map lookup, no store is
 * read). Otherwise another process wrote the entries in between — the gap — and the callbacks of
 * those after the chain's stored mark S, except this process's own, are handed to the dispatcher
 * again, the same path the catch-up takes, at least once (receivers drop repeats by event id).
 * Until they are, the chain's mark is held below the gap; this process's own entries before it
 * are not held up, and nothing above the entry that found the gap is replayed or passed.
 *
 * Every gap, not only the first: a partition that goes to another process and comes back finds the
 * entries that process appended meanwhile — perhaps never published, if it crashed. Why not a hook
 * on the bus's revocation instead: the Bus port tells nobody about assignments (ports/bus.ts), and
 * the deliver and retry topics of one partition number are assigned by two groups each on its own,
 * so no single revocation says "someone else may write this chain now"; the seqs say it exactly.
 *
 * Only a partition's chain (isPartitionChain) is looked at again. Any other chain — the main chain
 * of `audit.chain`, shared on purpose by processes on one PostgreSQL, whose appends interleave all
 * the time — is decided at its first gap (or first contiguous append) and not looked at again:
 * a replay per interleave would send the callbacks of live writers again for nothing. What stays
 * open there is named in callback-watermarks.ts.
 *
 * Two live writers on one partition chain (the deliver group's member here, the retry group's
 * there) make a gap at every turn. The replay of a gap waits until the other writer's mark, if it
 * is alive, has passed what it appended (replayDelayMs): then S lies past those entries and nothing
 * is sent twice; only what a crashed writer left is replayed. Gaps found while one waits widen it:
 * at most one replay (one mark read, one query per callback kind) per chain and wait, whatever the
 * rate of turns. The entries this process appends while any replay of the chain is under way are
 * remembered as its own and never replayed — also one whose listener ran after a later one's, which
 * looked like a gap. On a partition's chain this closes the two-live-writers case named in
 * callback-watermarks.ts as well: each writer's mark passes the other's entries only once they lie
 * below the stored mark or were handed over again.
 *
 * A replay under way when the partition leaves again is harmless: it reads only up to the entry
 * that found its gap, hands over what another writer may have left (again at worst), and holds
 * only this process's mark, which never passes what this process did not see.
 */
import type { Logger } from '../log/logger.ts';
import { isPartitionChain } from '../pipeline/delivery-audit.ts';
import type { AuditEntry, AuditStore } from '../ports/audit-store.ts';
import type { CallbackWatermarks } from './callback-watermarks.ts';
import { CATCH_UP_WINDOW, owedCallbacks } from './owed-callbacks.ts';

/** A chain that is not looked at again (not a partition's chain, its first decision taken). */
const DECIDED = 'decided';

/** The entries another process appended between two of this process's, whose replay waits. */
interface Gap {
  from: number;
  to: number;
  /** Ends the wait now (idle()). */
  start: () => void;
}

interface ChainState {
  /** The highest seq this process appended to the chain, or up to which the catch-up covered it. */
  last: number;
  /** Whether every gap is replayed (a partition's chain), or only one at the first touch. */
  everyGap: boolean;
  /** While any replay of the chain is under way: the seqs this process appended meanwhile. */
  own: Set<number> | undefined;
  /** Replays of the chain started and not finished. */
  replays: number;
  /** The gap whose replay waits for the other writer's mark, widened by the gaps found meanwhile. */
  waiting: Gap | undefined;
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
    // The hot case: right after this process's last entry on the chain, no replay under way.
    if (state !== undefined && state.own === undefined && entry.seq === state.last + 1) {
      state.last = entry.seq;
      return;
    }
    this.notRightAfter(entry, state);
  }

  /** Resolves once every replay started has handed its callbacks over (or failed); none waits any longer. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) {
      for (const state of this.chains.values()) if (state !== DECIDED) state.waiting?.start();
      await Promise.all(this.pending);
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
        replays: 0,
        waiting: undefined,
      };
      this.chains.set(entry.chain, state);
    }
    state.own?.add(entry.seq);
    // A re-append, or an entry of this process whose listener ran after a later one's.
    if (entry.seq <= state.last) return;
    const from = state.last + 1;
    state.last = entry.seq;
    if (entry.seq > from && (state.everyGap || state.replays === 0))
      this.replay(entry.chain, state, from, entry.seq - 1);
    else if (!state.everyGap && state.replays === 0) this.chains.set(entry.chain, DECIDED);
  }

  private replay(chain: string, state: ChainState, from: number, to: number): void {
    if (state.waiting) {
      // Its own entries between the two gaps are in `own`: appended while the first one waits.
      state.waiting.to = to;
      return;
    }
    // The entry that found the gap is this process's own: a later gap widening this one covers it.
    state.own ??= new Set();
    state.own.add(to + 1);
    state.replays++;
    let handedOver!: (done: boolean) => void;
    // Holds the chain's mark below the gap like a callback being published; if the replay fails,
    // like one that could not be: never passed by this process, the next start replays it.
    this.deps.watermarks.publishing(chain, from, new Promise<boolean>((resolve) => (handedOver = resolve)));
    const gap: Gap = { from, to, start: () => {} };
    state.waiting = gap;
    const waited = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.replayDelayMs);
      gap.start = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    const replay = waited
      .then(() => {
        if (state.waiting === gap) state.waiting = undefined;
        return this.handOverGap(chain, gap, state.own!);
      })
      .then(
        () => handedOver(true),
        (error: unknown) => {
          handedOver(false);
          this.deps.logger.error(
            { err: error, chain },
            'replaying the callbacks of a chain another process wrote to failed',
          );
        },
      )
      .finally(() => {
        this.pending.delete(replay);
        if (--state.replays > 0) return;
        state.own = undefined;
        if (!state.everyGap) this.chains.set(chain, DECIDED);
      });
    this.pending.add(replay);
  }

  private async handOverGap(chain: string, gap: Gap, own: ReadonlySet<number>): Promise<void> {
    const stored = await this.deps.watermarks.storedMark(chain);
    // Where watermarks were never kept nothing is owed (callback-watermarks.ts, startingPoints).
    if (stored === undefined) return;
    const fromSeq = Math.max(stored + 1, gap.from);
    if (fromSeq > gap.to) return;
    const entries = await owedCallbacks(
      this.deps.store,
      chain,
      fromSeq,
      gap.to,
      this.deps.window ?? CATCH_UP_WINDOW,
    );
    const owed = entries.filter((entry) => !own.has(entry.seq));
    for (const entry of owed) this.deps.handOver(entry);
    if (owed.length > 0)
      this.deps.logger.warn(
        { chain, watermark: stored, from: fromSeq, to: gap.to, callbacks: owed.length },
        'handed the callbacks another process appended to a chain to the dispatcher again',
      );
  }
}
