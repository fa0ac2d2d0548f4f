/**
 * Group commit for better-sqlite3: writes submitted in the same event-loop turn run in ONE
 * `BEGIN IMMEDIATE` transaction, and each caller's promise settles only after that transaction is
 * durable — as durable as one commit per write, at the cost of one sync per turn. With a WalSync
 * (gateway/db/wal-sync.ts; the connection runs `synchronous=NORMAL`) that sync is an fdatasync of
 * the WAL on the thread pool after the COMMIT, so the event loop never waits for the disk; without
 * one the commit is as durable as the connection's `synchronous` makes it. better-sqlite3 is
 * synchronous, so while a commit runs no other callback does; what arrives meanwhile is queued for
 * the next turn's transaction. With a WalSync, writes that arrive while the last commit's sync runs
 * wait for it and commit together after it (commit-pacer.ts).
 *
 * Each write runs inside its own SAVEPOINT: one that throws is rolled back alone and rejects only
 * its caller; the others of the batch still commit. A failing COMMIT or sync rejects the whole
 * batch, and after a failed sync every later write is refused.
 */
import type Database from 'better-sqlite3';
import { CommitPacer } from './commit-pacer.ts';
import type { WalSync } from './wal-sync.ts';

interface Queued<R> {
  work: () => R;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
}

type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

export class SqliteGroupCommit {
  private queue: Queued<unknown>[] = [];
  private readonly pacer = new CommitPacer(
    () => this.flush(),
    () => this.queue.length > 0,
  );
  private readonly commitBatch: Database.Transaction<(batch: Queued<unknown>[]) => Outcome<unknown>[]>;
  private readonly isolated: Database.Transaction<(work: () => unknown) => unknown>;
  /** Transactions committed (for tests and benchmarks: far fewer than writes under load). */
  commits = 0;

  constructor(
    db: Database.Database,
    private readonly walSync?: WalSync,
  ) {
    // Nested inside commitBatch, better-sqlite3 runs this as a SAVEPOINT.
    this.isolated = db.transaction((work: () => unknown) => work());
    this.commitBatch = db.transaction((batch: Queued<unknown>[]) =>
      batch.map((q): Outcome<unknown> => {
        try {
          return { ok: true, value: this.isolated(q.work) };
        } catch (error) {
          return { ok: false, error };
        }
      }),
    );
  }

  /** Runs `work` (synchronous statements only) in the next group transaction; resolves once it is durable. */
  run<R>(work: () => R): Promise<R> {
    try {
      this.walSync?.assertWritable();
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.pacer.queued();
    });
  }

  /**
   * Commits what is queued now (close() calls it so that nothing accepted is dropped; the callers
   * settle when the WalSync's sync completed: close the WalSync before the connection).
   */
  flush(): void {
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    let outcomes: Outcome<unknown>[];
    try {
      this.walSync?.assertWritable();
      outcomes = this.commitBatch.immediate(batch);
      this.commits++;
    } catch (error) {
      for (const q of batch) q.reject(error);
      return;
    }
    const settle = () =>
      outcomes.forEach((outcome, i) => {
        const q = batch[i]!;
        if (outcome.ok) q.resolve(outcome.value);
        else q.reject(outcome.error);
      });
    this.pacer.settleWhenDurable(this.walSync, settle, (error) => {
      for (const q of batch) q.reject(error);
    });
  }
}
