/**
 * A message's lifecycle status, derived from its audit trail — the audit log is the single record
 * of what happened, so the status API can never disagree with what auditors see.
 */
import { inEventOrder, PROGRESS, TERMINAL_FAILURE } from '../audit/message-summary.ts';
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
  let status: MessageStatus = 'received';
  let rank = 0;
  let failure: MessageStatus | undefined;
  for (const entry of trail) {
    const progress = PROGRESS[entry.kind];
    if (progress && progress.rank >= rank) {
      rank = progress.rank;
      status = progress.status;
      failure = undefined; // a replay after dead-lettering moves the message on again
    }
    const terminal = TERMINAL_FAILURE[entry.kind];
    if (terminal) failure = terminal;
  }
  const first = (pick: (e: AuditEntry) => string | null) => trail.map(pick).find((v) => v !== null) ?? null;
  return {
    messageId,
    status: failure ?? status,
    messageType: first((e) => e.messageType),
    sender: first((e) => e.sender),
    receiver: first((e) => e.receiver),
    senderSystem: first((e) => e.senderSystem),
    receiverSystem: first((e) => e.receiverSystem),
    digest: first((e) => e.digest),
    history: trail.map((e) => ({
      seq: e.seq,
      time: e.time,
      event: e.kind,
      actor: e.actor,
      detail: e.detail,
    })),
  };
}
