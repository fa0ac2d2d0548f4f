/**
 * The open answer cases in SQLite: one file in the data directory (WAL), shared by the processes on
 * that data directory. With DATABASE_URL the replicas share pg-overdue-cases.ts instead. Every
 * write resolves once fsync'd; the fsync runs on the thread pool (gateway/db/wal-sync.ts).
 */
import Database from 'better-sqlite3';
import { SqliteGroupCommit } from '../db/sqlite-group-commit.ts';
import { type WalSync, walSyncFor } from '../db/wal-sync.ts';
import {
  answers,
  type CaseAnswer,
  type OpenCase,
  type OverdueCaseStore,
  type StoredCase,
} from '../ports/overdue-case-store.ts';
import { type CaseRow, INSERT_COLUMNS, insertArgs, toCase } from './case-row.ts';

// Prepared once: open() runs for every delivered message under a deadline contract.
function prepareStatements(db: Database.Database) {
  return {
    insertCase: db.prepare(
      `INSERT OR IGNORE INTO answer_case (${INSERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    answersFor: db.prepare(
      'SELECT answer_id, answer_type, answered_at FROM case_answer WHERE referenz_id = ? ORDER BY answered_at',
    ),
    closeCase: db.prepare(
      'UPDATE answer_case SET answered_at = ?, answer_id = ? WHERE message_id = ? AND answered_at IS NULL',
    ),
    insertAnswer: db.prepare(
      'INSERT OR IGNORE INTO case_answer (referenz_id, answer_id, answer_type, answered_at) VALUES (?, ?, ?, ?)',
    ),
    overdue: db.prepare(
      'SELECT * FROM answer_case WHERE answered_at IS NULL AND deadline < ? ORDER BY deadline, delivered_at, message_id',
    ),
    claimReminder: db.prepare(
      `UPDATE answer_case SET reminder_claimed_until = @until
       WHERE message_id = @messageId AND answered_at IS NULL AND reminded_at IS NULL
         AND (reminder_claimed_until IS NULL OR reminder_claimed_until <= @at)`,
    ),
    markReminded: db.prepare(
      'UPDATE answer_case SET reminded_at = ? WHERE message_id = ? AND reminded_at IS NULL',
    ),
    get: db.prepare('SELECT * FROM answer_case WHERE message_id = ?'),
  };
}

export class SqliteOverdueCaseStore implements OverdueCaseStore {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly stmts: ReturnType<typeof prepareStatements>;
  /** open() runs for every delivered message under a deadline contract: one commit per turn, not per case. */
  private readonly writes: SqliteGroupCommit;
  private readonly walSync: WalSync;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.walSync = walSyncFor(this.db, file, 'FULL')!;
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS answer_case (
        message_id TEXT PRIMARY KEY, message_type TEXT NOT NULL, sender_system TEXT NOT NULL,
        receiver_system TEXT NOT NULL, land TEXT NOT NULL, contract TEXT NOT NULL,
        working_days INTEGER NOT NULL, answered_by TEXT NOT NULL, delivered_at TEXT NOT NULL,
        deadline TEXT NOT NULL, answered_at TEXT, answer_id TEXT, reminded_at TEXT,
        reminder_claimed_until TEXT);
      CREATE INDEX IF NOT EXISTS answer_case_open ON answer_case (deadline) WHERE answered_at IS NULL;
      CREATE TABLE IF NOT EXISTS case_answer (
        referenz_id TEXT NOT NULL, answer_id TEXT NOT NULL, answer_type TEXT NOT NULL,
        answered_at TEXT NOT NULL, PRIMARY KEY (referenz_id, answer_id));
    `);
    // Files made before the reminder claim became a lease get its column.
    const columns = this.db.prepare('SELECT name FROM pragma_table_info(?)').all('answer_case') as {
      name: string;
    }[];
    if (!columns.some((c) => c.name === 'reminder_claimed_until')) {
      this.db.exec('ALTER TABLE answer_case ADD COLUMN reminder_claimed_until TEXT');
    }
    this.stmts = prepareStatements(this.db);
    // The group commit's transactions are IMMEDIATE: the write lock is taken first, so an answer in
    // another process cannot slip between a case's insert and its look-up of earlier answers.
    this.writes = new SqliteGroupCommit(this.db, this.walSync);
  }

  private openCase(c: OpenCase): boolean {
    const fresh = this.stmts.insertCase.run(...insertArgs(c)).changes === 1;
    const earlier = this.stmts.answersFor.all(c.messageId) as {
      answer_id: string;
      answer_type: string;
      answered_at: string;
    }[];
    const first = earlier.find((a) => answers(a.answer_type, c.answeredBy));
    if (first) this.stmts.closeCase.run(first.answered_at, first.answer_id, c.messageId);
    return fresh;
  }

  private answerCase(a: CaseAnswer): boolean {
    this.stmts.insertAnswer.run(a.referenzUUID, a.answerId, a.answerType, a.answeredAt);
    const open = this.getSync(a.referenzUUID);
    if (!open || open.answeredAt || !answers(a.answerType, open.answeredBy)) return false;
    this.stmts.closeCase.run(a.answeredAt, a.answerId, a.referenzUUID);
    return true;
  }

  open(c: OpenCase): Promise<boolean> {
    return this.writes.run(() => this.openCase(c));
  }

  answer(a: CaseAnswer): Promise<boolean> {
    return this.writes.run(() => this.answerCase(a));
  }

  async overdue(today: string): Promise<StoredCase[]> {
    return (this.stmts.overdue.all(today) as CaseRow[]).map(toCase);
  }

  async claimReminder(messageId: string, at: string, until: string): Promise<boolean> {
    this.walSync.assertWritable();
    // One statement: SQLite's write lock serialises the processes on this file.
    const claimed = this.stmts.claimReminder.run({ messageId, at, until }).changes === 1;
    await this.walSync.afterCommit();
    return claimed;
  }

  async markReminded(messageId: string, at: string): Promise<boolean> {
    this.walSync.assertWritable();
    const marked = this.stmts.markReminded.run(at, messageId).changes === 1;
    await this.walSync.afterCommit();
    return marked;
  }

  async get(messageId: string): Promise<StoredCase | undefined> {
    return this.getSync(messageId);
  }

  private getSync(messageId: string): StoredCase | undefined {
    const row = this.stmts.get.get(messageId) as CaseRow | undefined;
    return row && toCase(row);
  }

  async close(): Promise<void> {
    this.writes.flush();
    await this.walSync.close();
    this.db.close();
  }
}
