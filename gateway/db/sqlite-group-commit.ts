/**
 * Group commit for better-sqlite3: writes submitted in the same event-loop turn run in ONE
 * `BEGIN IMMEDIATE` transaction (one WAL fsync under `synchronous=FULL`), and each caller's promise
 * settles only after that transaction committed — durability is that of one commit per write, the
 * cost is one fsync per turn. better-sqlite3 is synchronous, so while a commit runs no other
 * callback does; what arrives meanwhile is queued for the next turn's transaction.
 *
 * Each write runs inside its own SAVEPOINT: one that throws is rolled back alone and rejects only
 * its caller; the others of the batch still commit. A failing COMMIT rejects the whole batch.
 */
import type Database from 'better-sqlite3';

interface Queued<R> {
  work: () => R;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
}

type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

export class SqliteGroupCommit {
  private queue: Queued<unknown>[] = [];
  private scheduled = false;
  private readonly commitBatch: Database.Transaction<(batch: Queued<unknown>[]) => Outcome<unknown>[]>;
  private readonly isolated: Database.Transaction<(work: () => unknown) => unknown>;
  /** Transactions committed (for tests and benchmarks: far fewer than writes under load). */
  commits = 0;

  constructor(db: Database.Database) {
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

  /** Runs `work` (synchronous statements only) in the next group transaction; resolves after its commit. */
  run<R>(work: () => R): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits what is queued now (close() calls it so that nothing accepted is dropped). */
  flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    let outcomes: Outcome<unknown>[];
    try {
      outcomes = this.commitBatch.immediate(batch);
      this.commits++;
    } catch (error) {
      for (const q of batch) q.reject(error);
      return;
    }
    outcomes.forEach((outcome, i) => {
      const q = batch[i]!;
      if (outcome.ok) q.resolve(outcome.value);
      else q.reject(outcome.error);
    });
  }
}
