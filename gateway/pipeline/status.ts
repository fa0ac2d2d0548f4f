/**
 * A message's lifecycle status, derived from its audit trail — the audit log is the single record
 * of what happened, so the status API can never disagree with what auditors see. The fold is the
 * search index's (audit/message-summary.ts), so the two cannot disagree either.
 *
 * The status is folded in inEventOrder, as the projectors fold, and follows cause by the fold's own
 * rules (replay generations; the ingress's entries never undo a dead-letter). The history is the
 * trail in causal order (causal-history.ts): each chain in seq order; the ingress's entries before
 * any delivery entry; a replay of generation n after the dead-letters of lower generations and
 * before the delivery entries of generation n (each records its generation in its detail, which the
 * items show as they are); within a generation, lower attempt numbers first;
 * a receiver's fetch or pull acknowledgement after the first delivery; otherwise by time, then
 * chain, then seq. Each item names its (chain, seq): where an auditor finds the entry, and what an
 * inclusion proof asks for.
 */
import { foldEntry, inEventOrder, type SummaryState } from '../audit/message-summary.ts';
import type { AuditEntry, AuditEventKind, AuditMessageStatus } from '../ports/audit-store.ts';
import { inCausalOrder } from './causal-history.ts';

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
    chain: string;
    seq: number;
    time: string;
    event: AuditEventKind;
    actor: string;
    detail: Record<string, unknown>;
  }[];
}

export function messageView(messageId: string, trail: AuditEntry[]): MessageView | undefined {
  if (trail.length === 0) return undefined;
  let state: SummaryState | undefined;
  for (const entry of [...trail].sort(inEventOrder)) state = foldEntry(state, { ...entry, messageId });
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
    history: inCausalOrder(trail).map((e) => ({
      chain: e.chain,
      seq: e.seq,
      time: e.time,
      event: e.kind,
      actor: e.actor,
      detail: e.detail,
    })),
  };
}
