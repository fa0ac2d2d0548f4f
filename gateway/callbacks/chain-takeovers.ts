/**
 * Taking over a chain another process wrote to: delivery events go to per-partition chains
 * (pipeline/delivery-audit.ts) that move with the partition on a rebalance. A process that crashed
 * after appending an entry and before its callback reached the bus leaves it after the chain's
 * stored watermark; the process that takes the partition over appends after it, and its own mark
 * would pass that entry with nobody replaying it (the gap named in callback-watermarks.ts).
 *
 * So the first entry this process appends to a chain beyond what it has covered (what the catch-up
 * at its start handed over, or nothing for a chain it did not know then) decides: right after the
 * covered part, nobody else wrote in between and nothing is owed (a process alone on its chain, the
 * hot case: no store is read). Otherwise the chain's watermark is held, its stored mark S is read,
 * and the callbacks of the entries after max(S, covered) — except this process's own — are handed
 * to the dispatcher again, the same path the catch-up takes, at least once (receivers drop repeats
 * by event id). The hold ends once they are handed over; from then on their publishes hold the mark
 * as every other's do. Decided once per chain: afterwards one map lookup per entry.
 *
 * Still open: one chain with two live writers (a shared GATEWAY_AUDIT_CHAIN). A callback the other
 * writer loses by crashing after this process's decision is passed by this process's mark. Marks
 * per writing process would close that.
 */
import type { Logger } from '../log/logger.ts';
import type { AuditEntry, AuditStore } from '../ports/audit-store.ts';
import type { CallbackWatermarks } from './callback-watermarks.ts';
import { CATCH_UP_WINDOW, owedCallbacks } from './owed-callbacks.ts';

/** Decided, or the seqs this process appended while the replay is under way (not replayed). */
type ChainState = 'decided' | Set<number>;

export class ChainTakeovers {
  private readonly chains = new Map<string, ChainState>();
  /** Per chain, up to which seq the catch-up at the start handed its callbacks over. */
  private readonly covered = new Map<string, number>();
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly deps: {
      store: AuditStore;
      watermarks: CallbackWatermarks;
      /** Hands one entry to the callbacks (message-follow-ups.ts). */
      handOver: (entry: AuditEntry) => void;
      logger: Logger;
      window?: number;
    },
  ) {}

  /** The catch-up handed over every callback owed on `chain` up to `seq`. */
  caughtUp(chain: string, seq: number): void {
    if ((this.covered.get(chain) ?? 0) < seq) this.covered.set(chain, seq);
  }

  /** An entry this process appended (or re-appended), before it is handed over. */
  appended(entry: AuditEntry): void {
    const state = this.chains.get(entry.chain);
    if (state === 'decided') return;
    if (state) {
      state.add(entry.seq);
      return;
    }
    const covered = this.covered.get(entry.chain) ?? 0;
    // At or below the covered part (a re-append): this entry moves the mark past nothing uncovered.
    if (entry.seq <= covered) return;
    if (entry.seq === covered + 1) {
      this.chains.set(entry.chain, 'decided');
      return;
    }
    const own = new Set([entry.seq]);
    this.chains.set(entry.chain, own);
    const release = this.deps.watermarks.hold(entry.chain);
    const replay = this.replay(entry.chain, covered, own)
      .then(release)
      .catch((error) => {
        // The hold stays: this process's mark never passes what it could not replay; the next start does.
        this.deps.logger.error(
          { err: error, chain: entry.chain },
          'replaying the callbacks of a chain taken over failed',
        );
      })
      .finally(() => {
        this.chains.set(entry.chain, 'decided');
        this.pending.delete(replay);
      });
    this.pending.add(replay);
  }

  /** Resolves once every replay started has handed its callbacks over (or failed). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }

  private async replay(chain: string, covered: number, own: Set<number>): Promise<void> {
    const stored = await this.deps.watermarks.storedMark(chain);
    // Where watermarks were never kept nothing is owed (callback-watermarks.ts, startingPoints).
    if (stored === undefined) return;
    const fromSeq = Math.max(stored, covered) + 1;
    const entries = await owedCallbacks(
      this.deps.store,
      chain,
      fromSeq,
      undefined,
      this.deps.window ?? CATCH_UP_WINDOW,
    );
    const owed = entries.filter((entry) => !own.has(entry.seq));
    for (const entry of owed) this.deps.handOver(entry);
    if (owed.length > 0)
      this.deps.logger.warn(
        { chain, watermark: stored, callbacks: owed.length },
        'handed the callbacks of a chain taken over to the dispatcher again',
      );
  }
}
