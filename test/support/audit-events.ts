/**
 * Audit event inputs for tests that need an event but no message behind it. Events of a message,
 * with every field set and told apart by a counter: auditEvent() in
 * test/conformance/audit-store.conformance.ts.
 */
import type { AuditEventInput } from '../../gateway/ports/audit-store.ts';

/**
 * An event that names no message, authority, system, type or document, with an empty detail:
 * `received`, by the gateway, now, unless `fields` say otherwise.
 */
export function bareAuditEvent(fields: Partial<AuditEventInput> = {}): AuditEventInput {
  return {
    time: new Date().toISOString(),
    kind: 'received',
    actor: 'gateway',
    messageId: null,
    sender: null,
    receiver: null,
    senderSystem: null,
    receiverSystem: null,
    messageType: null,
    digest: null,
    detail: {},
    ...fields,
  };
}
