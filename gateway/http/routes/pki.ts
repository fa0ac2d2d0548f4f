/**
 * The gateway's PKI for relying parties and operators:
 * - GET /v1/pki/crl — the current CRL (DER, application/pkix-crl), signed by the CA; public, like
 *   any CRL distribution point. It changes within a second of `gw pki revoke`.
 * - GET /v1/pki/ca — the CA certificate (PEM); public.
 * - GET /v1/pki/signing-certificates — the gateway's sealing certificates, current and previous
 *   (PEM); public: receivers verifying seals after a rotation need the previous ones too.
 * - GET /v1/pki/certificates — every certificate with its status; operators of scope * only.
 */
import type { FastifyInstance } from 'fastify';
import { listCertificates, systemInventory } from '../../pki/inventory.ts';
import type { LiveTrust } from '../../pki/trust.ts';
import type { SystemCertificateStore } from '../../ports/system-certificate-store.ts';

export function pkiRoutes(deps: {
  trust: LiveTrust;
  pkiDir: string;
  caCertPem: string;
  /** Where the systems' certificates are pinned (inventory.ts says why it is read here). */
  systemCertificates: SystemCertificateStore;
}) {
  return async (app: FastifyInstance) => {
    app.get('/v1/pki/crl', { config: { auth: { public: true } } }, async (_request, reply) =>
      reply.type('application/pkix-crl').header('cache-control', 'max-age=60').send(deps.trust.crlDer()),
    );

    app.get('/v1/pki/ca', { config: { auth: { public: true } } }, async (_request, reply) =>
      reply.type('application/x-pem-file').send(deps.caCertPem),
    );

    app.get('/v1/pki/signing-certificates', { config: { auth: { public: true } } }, async () => {
      const [current, ...previous] = deps.trust.signingCertificates();
      return {
        current: current!.toString(),
        previous: previous.map((certificate) => certificate.toString()),
      };
    });

    // Every system's certificates: an operator narrowed to some systems is refused (route-auth.ts).
    app.get(
      '/v1/pki/certificates',
      { config: { auth: { role: 'operator', wholeGateway: true } } },
      async () => ({
        certificates: listCertificates(
          deps.pkiDir,
          deps.trust.isRevoked,
          new Date(),
          await systemInventory(deps.systemCertificates),
        ),
      }),
    );
  };
}
