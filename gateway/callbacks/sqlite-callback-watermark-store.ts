/**
 * The callback watermarks in SQLite: <dataDir>/callbacks.sqlite (WAL), shared by the processes on
 * that data directory. A write is one small transaction every ~100 ms at most (callback-watermarks.ts);
 * it is not fsync'd on its own (synchronous NORMAL): a write lost with the operating system only
 * leaves an older watermark, and an older watermark means callbacks sent again, never lost.
 */
import Database from 'better-sqlite3';
import { type CallbackWatermarkStore, KEPT_MARKER, markOf, sortedMarks } from './callback-watermark-store.ts';

export class SqliteCallbackWatermarkStore implements CallbackWatermarkStore {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly raise: Database.Statement<[string, number]>;
  private readonly all: Database.Statement<[], { chain: string; seq: number }>;
  private readonly one: Database.Statement<[string, string], { chain: string; seq: number }>;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS callback_watermark (chain TEXT PRIMARY KEY, seq INTEGER NOT NULL)',
    );
    this.raise = this.db.prepare(
      `INSERT INTO callback_watermark (chain, seq) VALUES (?, ?)
       ON CONFLICT (chain) DO UPDATE SET seq = max(seq, excluded.seq)`,
    );
    this.all = this.db.prepare('SELECT chain, seq FROM callback_watermark');
    this.one = this.db.prepare('SELECT chain, seq FROM callback_watermark WHERE chain IN (?, ?)');
  }

  async read(): Promise<Map<string, number> | undefined> {
    const rows = this.all.all();
    if (!rows.some((r) => r.chain === KEPT_MARKER)) return undefined;
    return new Map(rows.filter((r) => r.chain !== KEPT_MARKER).map((r) => [r.chain, r.seq]));
  }

  async readMark(chain: string): Promise<number | undefined> {
    return markOf(this.one.all(KEPT_MARKER, chain), chain);
  }

  async advance(marks: ReadonlyMap<string, number>): Promise<void> {
    const rows = sortedMarks(new Map([[KEPT_MARKER, 0], ...marks]));
    // IMMEDIATE: the write lock first, so two processes never both hold a read lock and wait for each other.
    this.db
      .transaction(() => {
        for (const [chain, seq] of rows) this.raise.run(chain, seq);
      })
      .immediate();
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
