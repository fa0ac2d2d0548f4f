/**
 * GET /v1/messages/{messageId} — lifecycle status, for the sending and the receiving system (client
 * certificate) and for auditors and operators whose scope covers one of the two (bearer token; the
 * same rule as the audit API's search and trail, routes/audit/visibility.ts).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Directory } from '../../directory/directory.ts';
import { GatewayError } from '../../errors/catalogue.ts';
import { messageView } from '../../pipeline/status.ts';
import { AUDIT_EVENT_KINDS, AUDIT_MESSAGE_STATUSES, type AuditStore } from '../../ports/audit-store.ts';
import { canSee, visibilityOf } from './audit/visibility.ts';
import { MESSAGE_ID, MessageIdParam } from './params.ts';

export const MessageStatusView = z.object({
  messageId: z.string(),
  status: z.enum(AUDIT_MESSAGE_STATUSES),
  messageType: z.string().nullable(),
  sender: z.string().nullable(),
  receiver: z.string().nullable(),
  senderSystem: z.string().nullable(),
  receiverSystem: z.string().nullable(),
  digest: z.string().nullable().describe('hex SHA-256 of the sealed document'),
  history: z
    .array(
      z.object({
        chain: z.string().describe('the audit chain holding the entry'),
        seq: z
          .number()
          .int()
          .describe("the entry's position in its chain: (chain, seq) names it for a proof"),
        time: z.string(),
        event: z.enum(AUDIT_EVENT_KINDS),
        actor: z.string(),
        detail: z.record(z.string(), z.unknown()),
      }),
    )
    .describe(
      "the message's audit entries in causal order: each chain's entries in seq order; the ingress's " +
        '(received, accepted, converted, signed, queued) before any delivery entry; a replay of ' +
        'generation n (detail.replayGeneration) after the dead-letters of lower generations and before ' +
        "generation n's delivery entries (each records its generation in detail.replayGeneration, 0 for " +
        'the first delivery; entries of older gateway versions may lack it); within a generation, lower ' +
        'attempt numbers first; a fetch or ' +
        'pull acknowledgement after the first delivery; otherwise by time, then chain, then seq. ' +
        'Several processes append to their own chains, so times may run against this order.',
    ),
});

export function messageStatusRoutes(deps: { audit: AuditStore; directory: () => Directory }) {
  return async (app: FastifyInstance) => {
    app.get<{ Params: { messageId: string } }>(
      '/v1/messages/:messageId',
      {
        config: { auth: { role: ['system', 'auditor', 'operator'] } },
        schema: {
          summary: 'Lifecycle status of a message',
          description:
            'received → accepted → queued → delivered → acknowledged; or rejected (the gateway refused ' +
            "the message's input: 4xx), failed (received, but not accepted for a reason on the gateway's " +
            'side: 5xx, send it again; an accepted resend moves it on), dead-lettered (accepted, but it ' +
            'cannot be delivered).',
          params: z.object({ messageId: MessageIdParam }),
          response: { 200: MessageStatusView },
        },
      },
      async (request) => {
        const messageId = MESSAGE_ID(request.params.messageId);
        const principal = request.principal!;
        const view = messageView(messageId, await deps.audit.query({ messageId }));
        // Not visible and not existing look the same: nobody can probe for ids outside their reach.
        const visible =
          view !== undefined &&
          (principal.role === 'system'
            ? view.senderSystem === principal.systemId || view.receiverSystem === principal.systemId
            : canSee(visibilityOf(principal, deps.directory()), view));
        if (!visible) {
          const who = principal.role === 'system' ? principal.systemId : 'your scope';
          throw new GatewayError('GW_ERR_NOT_FOUND', `no message ${messageId} visible to ${who}`);
        }
        return view satisfies z.infer<typeof MessageStatusView>;
      },
    );
  };
}
