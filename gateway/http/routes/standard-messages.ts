/**
 * POST /v1/messages — a document already in a catalogued standard, from a system that speaks it
 * natively, optionally carrying the sender's own enveloped signature. The caller's client
 * certificate names the sending system; everything after reading the document is the same pipeline
 * as for native payloads (Ingress.acceptStandard).
 */

import type { FastifyInstance } from 'fastify';
import { traceOfRequest } from '../../observability/trace-context.ts';
import type { Ingress } from '../../pipeline/ingress.ts';
import { type CertificateResolver, requireAnySystem } from '../client-auth.ts';
import { AcceptedAnswer } from './accepted-answer.ts';

export function standardMessagesRoutes(deps: {
  ingress: Ingress;
  resolveCaller: CertificateResolver;
  publicUrl: () => string;
}) {
  return async (app: FastifyInstance) => {
    // The signature covers the bytes as sent: the framework must not parse (or reject) them first.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

    const schema = {
      summary: 'A document in a catalogued standard (application/xml), optionally signed by the sender',
      response: { 202: AcceptedAnswer },
    };
    app.post('/v1/messages', { config: { auth: { role: 'system' } }, schema }, async (request, reply) => {
      const caller = requireAnySystem(request, deps.resolveCaller);
      const accepted = await deps.ingress.acceptStandard({
        systemId: caller.systemId,
        body: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
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
    });
  };
}
