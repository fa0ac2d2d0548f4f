/** One row of answer_case, as both case stores (SQLite, PostgreSQL) read it. */
import type { StoredCase } from '../ports/overdue-case-store.ts';

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
