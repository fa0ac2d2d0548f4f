/**
 * A message's lifecycle status, derived from its audit trail — the audit log is the single record
 * of what happened, so the status API can never disagree with what auditors see. The fold is the
 * search index's (audit/message-summary.ts), so the two cannot disagree either.
 */
import { foldEntry, inEventOrder, type SummaryState } from '../audit/message-summary.ts';
import type { AuditEntry, AuditEventKind, AuditMessageStatus } from '../ports/audit-store.ts';

export type MessageStatus = AuditMessageStatus;

export interface MessageView {
  messageId: string;
  status: MessageStatus;
  messageType: string | null;
  sender: string | null;
  receiver: string | null;
  senderSystem: string | null;
  receiverSystem: string | null;
  digest: string | null;
  history: {
    seq: number;
    time: string;
    event: AuditEventKind;
    actor: string;
    detail: Record<string, unknown>;
  }[];
}

export function messageView(messageId: string, trail: AuditEntry[]): MessageView | undefined {
  if (trail.length === 0) return undefined;
  trail = [...trail].sort(inEventOrder);
  let state: SummaryState | undefined;
  for (const entry of trail) state = foldEntry(state, { ...entry, messageId });
  const s = state!;
  return {
    messageId,
    status: s.status,
    messageType: s.messageType,
    sender: s.sender,
    receiver: s.receiver,
    senderSystem: s.senderSystem,
    receiverSystem: s.receiverSystem,
    digest: s.digest,
    history: trail.map((e) => ({
      seq: e.seq,
      time: e.time,
      event: e.kind,
      actor: e.actor,
      detail: e.detail,
    })),
  };
}
