/**
 * The open answer cases: messages delivered under a contract with an answer deadline, the answers
 * seen so far, and which overdue cases were reminded. One SQLite file in the data directory (WAL),
 * shared by the processes on that data directory; gateways on separate data directories (PostgreSQL
 * mode with several hosts) each see the cases they delivered — see README.md.
 */
import Database from 'better-sqlite3';

export interface OpenCase {
  messageId: string;
  messageType: string;
  senderSystem: string;
  receiverSystem: string;
  /** The receiving system's Land: its calendar counts. */
  land: string;
  contract: string;
  workingDays: number;
  /** Names or catalogue ids of the message types that answer it. */
  answeredBy: string[];
  deliveredAt: string;
  /** YYYY-MM-DD: the last day on which an answer is in time. */
  deadline: string;
}

export interface CaseAnswer {
  referenzUUID: string;
  answerId: string;
  /** Catalogue id of the answer's type. */
  answerType: string;
  answeredAt: string;
}

export interface StoredCase extends OpenCase {
  /** When an answer of one of `answeredBy` was accepted, and its id. */
  answeredAt: string | null;
  answerId: string | null;
  remindedAt: string | null;
}

/** True if a message of catalogue id `answerType` is one of `answeredBy` (names or ids). */
export function answers(answerType: string, answeredBy: readonly string[]): boolean {
  const name = answerType.split(':')[2] ?? answerType;
  return answeredBy.includes(answerType) || answeredBy.includes(name);
}

interface CaseRow {
  message_id: string;
  message_type: string;
  sender_system: string;
  receiver_system: string;
  land: string;
  contract: string;
  working_days: number;
  answered_by: string;
  delivered_at: string;
  deadline: string;
  answered_at: string | null;
  answer_id: string | null;
  reminded_at: string | null;
}

function toCase(row: CaseRow): StoredCase {
  return {
    messageId: row.message_id,
    messageType: row.message_type,
    senderSystem: row.sender_system,
    receiverSystem: row.receiver_system,
    land: row.land,
    contract: row.contract,
    workingDays: row.working_days,
    answeredBy: JSON.parse(row.answered_by) as string[],
    deliveredAt: row.delivered_at,
    deadline: row.deadline,
    answeredAt: row.answered_at,
    answerId: row.answer_id,
    remindedAt: row.reminded_at,
  };
}

export class OverdueCaseStore {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS answer_case (
        message_id TEXT PRIMARY KEY, message_type TEXT NOT NULL, sender_system TEXT NOT NULL,
        receiver_system TEXT NOT NULL, land TEXT NOT NULL, contract TEXT NOT NULL,
        working_days INTEGER NOT NULL, answered_by TEXT NOT NULL, delivered_at TEXT NOT NULL,
        deadline TEXT NOT NULL, answered_at TEXT, answer_id TEXT, reminded_at TEXT);
      CREATE INDEX IF NOT EXISTS answer_case_open ON answer_case (deadline) WHERE answered_at IS NULL;
      CREATE TABLE IF NOT EXISTS case_answer (
        referenz_id TEXT NOT NULL, answer_id TEXT NOT NULL, answer_type TEXT NOT NULL,
        answered_at TEXT NOT NULL, PRIMARY KEY (referenz_id, answer_id));
    `);
  }

  /**
   * Opens a case; a repeat (the same delivery seen again) keeps the first. An answer recorded before
   * the case was opened (a fast receiver, or events seen out of order) closes it at once.
   */
  open(c: OpenCase): boolean {
    return this.db.transaction(() => {
      const fresh = this.insertCase(c);
      const earlier = this.db
        .prepare(
          'SELECT answer_id, answer_type, answered_at FROM case_answer WHERE referenz_id = ? ORDER BY answered_at',
        )
        .all(c.messageId) as { answer_id: string; answer_type: string; answered_at: string }[];
      const first = earlier.find((a) => answers(a.answer_type, c.answeredBy));
      if (first) this.closeCase(c.messageId, first.answer_id, first.answered_at);
      return fresh;
    })();
  }

  private closeCase(messageId: string, answerId: string, answeredAt: string): void {
    this.db
      .prepare(
        'UPDATE answer_case SET answered_at = ?, answer_id = ? WHERE message_id = ? AND answered_at IS NULL',
      )
      .run(answeredAt, answerId, messageId);
  }

  private insertCase(c: OpenCase): boolean {
    return (
      this.db
        .prepare(
          `INSERT OR IGNORE INTO answer_case (message_id, message_type, sender_system, receiver_system, land,
           contract, working_days, answered_by, delivered_at, deadline)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          c.messageId,
          c.messageType,
          c.senderSystem,
          c.receiverSystem,
          c.land,
          c.contract,
          c.workingDays,
          JSON.stringify(c.answeredBy),
          c.deliveredAt,
          c.deadline,
        ).changes === 1
    );
  }

  /**
   * Records a message that references another one (its referenzUUID); it closes the referenced
   * case if its type is one the case is answered by. Returns true if it closed a case.
   */
  answer(a: CaseAnswer): boolean {
    return this.db.transaction(() => {
      this.db
        .prepare(
          'INSERT OR IGNORE INTO case_answer (referenz_id, answer_id, answer_type, answered_at) VALUES (?, ?, ?, ?)',
        )
        .run(a.referenzUUID, a.answerId, a.answerType, a.answeredAt);
      const open = this.get(a.referenzUUID);
      if (!open || open.answeredAt || !answers(a.answerType, open.answeredBy)) return false;
      this.closeCase(a.referenzUUID, a.answerId, a.answeredAt);
      return true;
    })();
  }

  /** Unanswered cases whose deadline day is before `today` (YYYY-MM-DD), oldest deadline first. */
  overdue(today: string): StoredCase[] {
    return (
      this.db
        .prepare(
          'SELECT * FROM answer_case WHERE answered_at IS NULL AND deadline < ? ORDER BY deadline, delivered_at',
        )
        .all(today) as CaseRow[]
    ).map(toCase);
  }

  /** Marks the reminder of a case as sent; true only for the first caller (one reminder per case). */
  markReminded(messageId: string, at: string): boolean {
    return (
      this.db
        .prepare('UPDATE answer_case SET reminded_at = ? WHERE message_id = ? AND reminded_at IS NULL')
        .run(at, messageId).changes === 1
    );
  }

  get(messageId: string): StoredCase | undefined {
    const row = this.db.prepare('SELECT * FROM answer_case WHERE message_id = ?').get(messageId) as
      | CaseRow
      | undefined;
    return row && toCase(row);
  }

  close(): void {
    this.db.close();
  }
}
