/**
 * When a SQLite writer commits what callers queued: once per event-loop turn, and not while the
 * sync of its last commit runs (gateway/db/wal-sync.ts). Writes queued during that sync could not
 * be acknowledged before the next sync anyway; committed together after it, they share one
 * transaction's fixed cost — BEGIN, the WAL frames of the pages every commit rewrites (index leaves,
 * chain ends), the fdatasync — which under load is most of what a write costs: about half the
 * commits. The price is that their commit moves from under the running sync to just before the
 * next (~0.3 ms later at the median with a ~0.5 ms fdatasync). Used by the group commit, the audit
 * store and the bus's publishes.
 */
import type { WalSync } from './wal-sync.ts';

export class CommitPacer {
  private scheduled = false;
  private sync: Promise<unknown> | undefined;

  /** `flush` commits everything queued; `hasWork` says whether anything is. */
  constructor(
    private readonly flush: () => void,
    private readonly hasWork: () => boolean,
  ) {}

  /** Something was queued: flush in a later turn, unless one is due or the last commit's sync runs. */
  queued(): void {
    if (this.scheduled || this.sync !== undefined || !this.hasWork()) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /**
   * The commit just made waits for `sync`. Register the callers' settlement on it first: they run
   * before what was queued meanwhile is committed, so their next writes join that batch.
   */
  committed(sync: Promise<unknown>): void {
    this.sync = sync;
    const ended = () => {
      // A flush outside the pacer (close()) may have started a newer sync meanwhile.
      if (this.sync !== sync) return;
      this.sync = undefined;
      this.queued();
    };
    sync.then(ended, ended);
  }

  /**
   * After a commit: settles its callers at once without a WalSync (the COMMIT was as durable as the
   * connection's `synchronous` makes it), else once the WAL sync the commit waits for completed —
   * `fail` if it failed — and holds what is queued meanwhile until then (committed()).
   */
  settleWhenDurable(walSync: WalSync | undefined, settle: () => void, fail: (error: unknown) => void): void {
    if (!walSync) {
      settle();
      return;
    }
    const synced = walSync.afterCommit();
    synced.then(settle, fail);
    this.committed(synced);
  }
}
