/**
 * The audit entries of a receiving system pulling its inbox (`fetched`, `acknowledged`), and the one
 * way a missing `acknowledged` is written after the fact: by the receiver's resend of the ack
 * (gateway/http/routes/inbox.ts) and by the ack audit sweep (ack-audit-sweep.ts) alike, so that the
 * two, and any number of replicas doing either, meet each other's key and write one entry.
 */
import type { AuditLog, AuditRecordInput } from '../audit/audit-log.ts';
import type { InboxItem } from '../ports/mailbox-store.ts';

/** The audit event of the receiving system fetching or acknowledging an inbox item. */
export function pulled(
  kind: 'fetched' | 'acknowledged',
  item: InboxItem,
  detail: Record<string, unknown>,
): AuditRecordInput {
  return {
    kind,
    actor: `system:${item.systemId}`,
    messageId: item.messageId,
    sender: item.senderAuthority,
    receiver: item.receiverAuthority,
    senderSystem: item.senderSystem,
    receiverSystem: item.systemId,
    messageType: item.messageType,
    digest: item.digest,
    detail: { mode: 'pull', ...detail },
  };
}

/** The idempotency key of a repaired `acknowledged` (keys are unique per chain: see ACK_REPAIR_CHAIN). */
function ackKey(item: Pick<InboxItem, 'systemId' | 'messageId'>): string {
  return `pull-ack/${item.systemId}/${item.messageId}`;
}

/**
 * Where a missing `acknowledged` is written: one chain every replica writes it to, so that two
 * repairs racing on two replicas (each with a chain of its own) meet each other's key and write one
 * entry. Only repairs go there, so it is rarely written and its writers do not take turns on the
 * hot path; the first ack stays on the process's own chain.
 */
export const ACK_REPAIR_CHAIN = 'pull-ack-repairs';

/**
 * Writes the `acknowledged` of an acked item unless the trail has it (on any chain: the first ack's
 * own, or an earlier repair's), which sets off the receipt as the first one would have (the
 * listeners of the log, and the catch-up, which reads every chain). `repairs` writes to
 * ACK_REPAIR_CHAIN; `item` is read only when the entry is missing. `unknown`: no such item.
 */
export async function auditAckIfMissing(
  repairs: AuditLog,
  messageId: string,
  item: () => Promise<InboxItem | undefined>,
): Promise<'present' | 'written' | 'unknown'> {
  if (await repairs.store.hasEvent(messageId, 'acknowledged')) return 'present';
  const acked = await item();
  if (!acked) return 'unknown';
  await repairs.record({
    ...pulled('acknowledged', acked, { recovered: true }),
    idempotencyKey: ackKey(acked),
  });
  return 'written';
}
