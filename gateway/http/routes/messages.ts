/** GET /v1/messages/{messageId} — lifecycle status, for the sending and the receiving system. */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { GatewayError } from '../../errors/catalogue.ts';
import { messageView } from '../../pipeline/status.ts';
import type { AuditStore } from '../../ports/audit-store.ts';
import { type CertificateResolver, requireAnySystem } from '../client-auth.ts';
import { MESSAGE_ID, MessageIdParam } from './params.ts';

export function messageStatusRoutes(deps: { audit: AuditStore; resolveCaller: CertificateResolver }) {
  return async (app: FastifyInstance) => {
    app.get<{ Params: { messageId: string } }>(
      '/v1/messages/:messageId',
      {
        config: { auth: { role: 'system' } },
        schema: {
          summary: 'Lifecycle status of a message',
          description:
            'received → accepted → queued → delivered → acknowledged; or rejected (the gateway refused ' +
            "the message's input: 4xx), failed (received, but not accepted for a reason on the gateway's " +
            'side: 5xx, send it again; an accepted resend moves it on), dead-lettered (accepted, but it ' +
            'cannot be delivered).',
          params: z.object({ messageId: MessageIdParam }),
        },
      },
      async (request) => {
        const messageId = MESSAGE_ID(request.params.messageId);
        const caller = requireAnySystem(request, deps.resolveCaller);
        const view = messageView(messageId, await deps.audit.query({ messageId }));
        // Not visible and not existing look the same: a system cannot probe for other systems' ids.
        if (!view || (view.senderSystem !== caller.systemId && view.receiverSystem !== caller.systemId)) {
          throw new GatewayError('GW_ERR_NOT_FOUND', `no message ${messageId} visible to ${caller.systemId}`);
        }
        return view;
      },
    );
  };
}
