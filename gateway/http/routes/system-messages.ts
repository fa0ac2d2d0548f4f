/** POST /v1/systems/{systemId}/messages — native payloads from a connected system. */

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { traceOfRequest } from '../../observability/trace-context.ts';
import type { Ingress } from '../../pipeline/ingress.ts';
import { type CertificateResolver, requireSystem } from '../client-auth.ts';
import { AcceptedAnswer } from './accepted-answer.ts';
import { SYSTEM_ID, SystemIdParam } from './params.ts';

export function systemMessagesRoutes(deps: {
  ingress: Ingress;
  resolveCaller: CertificateResolver;
  publicUrl: () => string;
}) {
  return async (app: FastifyInstance) => {
    // The adapter decides how to read the bytes; the framework must not parse (or reject) them first.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

    app.post<{ Params: { systemId: string } }>(
      '/v1/systems/:systemId/messages',
      {
        config: { auth: { role: 'system' } },
        schema: {
          summary: "A native payload from system {systemId}, decoded by that system's adapter",
          params: z.object({ systemId: SystemIdParam }),
          response: { 202: AcceptedAnswer },
        },
      },
      async (request, reply) => {
        const systemId = SYSTEM_ID(request.params.systemId);
        requireSystem(request, deps.resolveCaller, systemId);
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const accepted = await deps.ingress.acceptNative({
          systemId,
          body,
          contentType: request.headers['content-type'] ?? '',
          requestId: request.id,
          ...traceOfRequest(request.headers),
        });
        const messages = accepted.map((m) => ({
          ...m,
          status: 'queued',
          statusUrl: `${deps.publicUrl()}/v1/messages/${m.messageId}`,
        }));
        return reply
          .code(202)
          .header('location', messages[0]!.statusUrl)
          .send({ requestId: request.id, messages });
      },
    );
  };
}
