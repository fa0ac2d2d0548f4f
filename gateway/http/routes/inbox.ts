/**
 * Pull mode: GET /v1/systems/{id}/inbox[/{messageId}], POST …/inbox/{messageId}/ack.
 *
 * Visibility timeout (like OSCI's mailbox or SQS): fetching an item leases it for
 * `visibilityTimeoutMs`; until the lease ends or the item is acknowledged it is left out of the
 * listing, so that several workers of one receiver taking turns on the list do not all take it.
 * An item fetched and never acknowledged (the receiver crashed) is listed again when the lease
 * ends. Only the system itself can fetch its items, so a second fetch during the lease is allowed
 * and extends it (the receiver is still working on it); acknowledging works at any time.
 *
 * Every fetch that hands out an item writes a `fetched` audit entry (access evidence: who read which
 * message when, under which digest), one per fetch, also a repeated one. It ranks with `delivered`
 * (gateway/audit/message-summary.ts), so the status stays `delivered` until the acknowledgement and
 * a fetch after it does not move an `acknowledged` message back.
 *
 * An ack is committed in the mailbox first and audited after: the `acknowledged` entry sets off the
 * sender's receipt, so it must not precede an acknowledgement that may then fail to commit. An ack
 * whose append failed is answered with an error; the receiver's resend writes the entry then
 * (auditAckIfMissing).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AuditLog, AuditRecordInput } from '../../audit/audit-log.ts';
import { GatewayError } from '../../errors/catalogue.ts';
import type { InboxItem, MailboxStore } from '../../ports/mailbox-store.ts';
import { type CertificateResolver, requireSystem } from '../client-auth.ts';
import { MESSAGE_ID, MessageIdParam, parseQuery, SYSTEM_ID, SystemIdParam } from './params.ts';

const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  after: z
    .string()
    .regex(/^\d{1,18}$/)
    .optional(),
});

function textual(contentType: string): boolean {
  return /^(application\/(json|xml)|text\/)/.test(contentType) && !/charset=(?!utf-8)/i.test(contentType);
}

/** The audit event of the receiving system fetching or acknowledging an inbox item. */
function pulled(
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

/** The idempotency key of a resend's `acknowledged` (keys are unique per chain: see ACK_REPAIR_CHAIN). */
function ackKey(item: Pick<InboxItem, 'systemId' | 'messageId'>): string {
  return `pull-ack/${item.systemId}/${item.messageId}`;
}

/**
 * Where a resend writes a missing `acknowledged`: one chain every replica writes it to, so that two
 * resends racing on two replicas (each with a chain of its own) meet each other's key and write one
 * entry. Only repairs go there, so it is rarely written and its writers do not take turns on the
 * hot path; the first ack stays on the process's own chain.
 */
export const ACK_REPAIR_CHAIN = 'pull-ack-repairs';

/**
 * An ack whose append failed after the mailbox committed it (audit store down) was answered with an
 * error, so the receiver sends it again and the mailbox says `already`: that resend writes the
 * missing `acknowledged`, which sets off the receipt as the first one would have (the listeners of
 * the log, and the catch-up, which reads every chain). The look first spares a second entry where
 * the trail has it already (on any chain: the first ack's own, or an earlier resend's).
 */
async function auditAckIfMissing(
  mailbox: MailboxStore,
  repairs: AuditLog,
  systemId: string,
  messageId: string,
): Promise<void> {
  if (await repairs.store.hasEvent(messageId, 'acknowledged')) return;
  const item = await mailbox.get(systemId, messageId);
  if (!item) return;
  await repairs.record({
    ...pulled('acknowledged', item, { recovered: true }),
    idempotencyKey: ackKey(item),
  });
}

export function inboxItemView(item: InboxItem) {
  return {
    messageId: item.messageId,
    messageType: item.messageType,
    sender: item.senderAuthority,
    receiver: item.receiverAuthority,
    senderSystem: item.senderSystem,
    createdAt: item.createdAt,
    digest: item.digest,
    // The native payload for the system, and the sealed standard document as evidence of what was sent.
    payload: textual(item.nativeContentType)
      ? { contentType: item.nativeContentType, encoding: 'utf-8', data: item.nativeBody.toString('utf8') }
      : { contentType: item.nativeContentType, encoding: 'base64', data: item.nativeBody.toString('base64') },
    signedDocument: item.signedDocument,
  };
}

export function inboxRoutes(deps: {
  mailbox: MailboxStore;
  audit: AuditLog;
  resolveCaller: CertificateResolver;
  /** How long a fetched, unacknowledged item stays out of the listing. */
  visibilityTimeoutMs: number;
  /** Clock; tests may pass their own. */
  now?: () => Date;
}) {
  const now = deps.now ?? (() => new Date());
  const repairs = deps.audit.withChain(ACK_REPAIR_CHAIN);
  return async (app: FastifyInstance) => {
    app.get<{ Params: { systemId: string }; Querystring: Record<string, string> }>(
      '/v1/systems/:systemId/inbox',
      {
        config: { auth: { role: 'system' } },
        schema: { params: z.object({ systemId: SystemIdParam }), querystring: ListQuery },
      },
      async (request) => {
        const systemId = SYSTEM_ID(request.params.systemId);
        requireSystem(request, deps.resolveCaller, systemId);
        const query = parseQuery(ListQuery, request.query);
        const page = await deps.mailbox.list(systemId, { ...query, visibleAt: now().toISOString() });
        return { items: page.items.map(inboxItemView), next: page.next ?? null };
      },
    );

    app.get<{ Params: { systemId: string; messageId: string } }>(
      '/v1/systems/:systemId/inbox/:messageId',
      {
        config: { auth: { role: 'system' } },
        schema: { params: z.object({ systemId: SystemIdParam, messageId: MessageIdParam }) },
      },
      async (request) => {
        const systemId = SYSTEM_ID(request.params.systemId);
        const messageId = MESSAGE_ID(request.params.messageId);
        requireSystem(request, deps.resolveCaller, systemId);
        const leasedUntil = new Date(now().getTime() + deps.visibilityTimeoutMs).toISOString();
        const fetched = await deps.mailbox.lease(systemId, messageId, leasedUntil);
        if (!fetched)
          throw new GatewayError('GW_ERR_NOT_FOUND', `no message ${messageId} in the inbox of ${systemId}`);
        // Recorded before the content leaves: no evidence, no content (a store outage answers 503).
        const { item } = fetched;
        await deps.audit.record(
          pulled('fetched', item, { ...(fetched.leased ? { leasedUntil } : { acknowledged: true }) }),
        );
        // When the item is listed again unless acknowledged before (absent once it was acknowledged).
        return { ...inboxItemView(fetched.item), ...(fetched.leased ? { leasedUntil } : {}) };
      },
    );

    app.post<{ Params: { systemId: string; messageId: string } }>(
      '/v1/systems/:systemId/inbox/:messageId/ack',
      {
        config: { auth: { role: 'system' } },
        schema: { params: z.object({ systemId: SystemIdParam, messageId: MessageIdParam }) },
      },
      async (request) => {
        const systemId = SYSTEM_ID(request.params.systemId);
        const messageId = MESSAGE_ID(request.params.messageId);
        requireSystem(request, deps.resolveCaller, systemId);
        const result = await deps.mailbox.ack(systemId, messageId);
        if (!result)
          throw new GatewayError('GW_ERR_NOT_FOUND', `no message ${messageId} in the inbox of ${systemId}`);
        if (result !== 'already') {
          await deps.audit.record(pulled('acknowledged', result, {}));
        } else {
          await auditAckIfMissing(deps.mailbox, repairs, systemId, messageId);
        }
        return { messageId, status: 'acknowledged', repeated: result === 'already' };
      },
    );
  };
}
