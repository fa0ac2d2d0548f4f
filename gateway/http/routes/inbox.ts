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
 * (auditAckIfMissing), or, if it never comes, the ack audit sweep does (gateway/mailbox/ack-audit-sweep.ts):
 * the row is marked audited once the entry is known to be written, and the sweep looks at the others.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AuditLog } from '../../audit/audit-log.ts';
import { GatewayError } from '../../errors/catalogue.ts';
import { ACK_REPAIR_CHAIN, auditAckIfMissing, pulled } from '../../mailbox/pull-ack-audit.ts';
import type { AckedItemKey, InboxItem, MailboxStore } from '../../ports/mailbox-store.ts';
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
  /**
   * The ack's `acknowledged` is in the trail: marks it so in the mailbox, later and in batches
   * (gateway/mailbox/ack-audit-marks.ts), without holding up the answer. A mark that is lost only
   * leaves the ack to the ack audit sweep, which finds the entry and marks it then.
   */
  ackAudited: (key: AckedItemKey) => void;
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
          deps.ackAudited({ systemId, messageId });
        } else {
          const found = await auditAckIfMissing(repairs, messageId, () =>
            deps.mailbox.get(systemId, messageId),
          );
          if (found !== 'unknown') deps.ackAudited({ systemId, messageId });
        }
        return { messageId, status: 'acknowledged', repeated: result === 'already' };
      },
    );
  };
}
