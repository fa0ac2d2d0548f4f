/** One row of answer_case, as both case stores (SQLite, PostgreSQL) read it. */
import type { OpenCase, StoredCase } from '../ports/overdue-case-store.ts';

export interface CaseRow {
  message_id: string;
  message_type: string;
  sender_system: string;
  receiver_system: string;
  land: string;
  contract: string;
  working_days: number;
  /** JSON array of names or catalogue ids. */
  answered_by: string;
  delivered_at: string;
  deadline: string;
  answered_at: string | null;
  answer_id: string | null;
  reminded_at: string | null;
}

export function toCase(row: CaseRow): StoredCase {
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

/** The columns a new case is inserted with, in the order of `insertArgs`. */
export const INSERT_COLUMNS =
  'message_id, message_type, sender_system, receiver_system, land, contract, working_days, answered_by, delivered_at, deadline';

export function insertArgs(c: OpenCase): (string | number)[] {
  return [
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
  ];
}
