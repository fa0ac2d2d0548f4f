/**
 * The bench's baseline server: a bare fastify HTTPS route on the same port setup as the gateway —
 * TLS with the same CA, client certificates required — answering POST /v1/systems/:id/messages
 * with 202 after parsing the body, and nothing else. What the load generator and TLS cost on this
 * machine, measured with the same payloads and the same client as the gateway.
 * Run by run.ts as its own process: BENCH_PKI_DIR (created by run.ts), BENCH_PORT.
 */
import type { TLSSocket } from 'node:tls';
import fastify from 'fastify';
import { ensurePki } from '../../gateway/pki/bootstrap.ts';
import { TEST_PASSPHRASE } from '../support/gateway.ts';

const pki = await ensurePki({
  dir: process.env.BENCH_PKI_DIR!,
  systems: [],
  passphrase: TEST_PASSPHRASE,
  signingAlgorithm: 'rsa-sha256',
  rsaBits: 2048,
  serverNames: ['localhost', '127.0.0.1'],
});
const app = fastify({
  logger: false,
  https: {
    key: pki.server.keyPem,
    cert: pki.server.certPem,
    ca: pki.caCertPem,
    // Like the gateway: the handshake asks for a client certificate, the route requires a verified one
    // (health probes connect without).
    requestCert: true,
    rejectUnauthorized: false,
  },
});
app.addContentTypeParser(
  ['text/plain', 'text/csv', 'application/xml'],
  { parseAs: 'buffer' },
  (_r, body, done) => done(null, body),
);
app.get('/health/ready', async () => ({ status: 'ready' }));
app.post<{ Params: { systemId: string } }>('/v1/systems/:systemId/messages', async (request, reply) => {
  if (!(request.raw.socket as TLSSocket).authorized) return reply.code(401).send({ status: 401 });
  reply.code(202);
  return { messages: [{ messageId: 'bare', messageType: 'bare', receiverSystem: request.params.systemId }] };
});
await app.listen({ port: Number(process.env.BENCH_PORT), host: '127.0.0.1' });
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
