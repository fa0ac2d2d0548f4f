/**
 * Who is calling: the system named by a verified client certificate. TLS has already checked the
 * chain against the gateway CA (requestCert with our CA); the resolver checks it again together
 * with validity and extracts the system id, because the server also lets certificate-less clients
 * in for health, metrics and docs (rejectUnauthorized is off at the TLS level).
 *
 * Revocation is checked on EVERY request, not once per connection: a keep-alive connection opened
 * before `gw pki revoke` must not outlive the revocation.
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/catalogue.ts';

export interface CallerSystem {
  systemId: string;
  serial: string;
}

export interface CertificateResolver {
  (peer: { raw: Buffer }): CallerSystem | null;
  /** Revocation by serial, consulted on every request (the resolution itself is cached per socket). */
  isRevoked?: (serial: string) => boolean;
}

// Keep-alive connections send many requests over one TLS session: resolve each socket once.
const bySocket = new WeakMap<object, CallerSystem | null>();

/** The certificate's system, ignoring revocation (cached per connection). */
function certificateCaller(request: FastifyRequest, resolve: CertificateResolver): CallerSystem | null {
  const socket = request.raw.socket as TLSSocket;
  if (bySocket.has(socket)) return bySocket.get(socket) ?? null;
  let caller: CallerSystem | null = null;
  if (socket.authorized && typeof socket.getPeerCertificate === 'function') {
    const peer = socket.getPeerCertificate();
    if (peer?.raw) caller = resolve({ raw: peer.raw });
  }
  bySocket.set(socket, caller);
  return caller;
}

/** The calling system, or null (no certificate, not ours, expired, revoked). */
export function callerSystem(request: FastifyRequest, resolve: CertificateResolver): CallerSystem | null {
  const caller = certificateCaller(request, resolve);
  return caller && !resolve.isRevoked?.(caller.serial) ? caller : null;
}

/** The system whose certificate was presented and revoked, for auditing the refusal; else null. */
export function revokedCaller(request: FastifyRequest, resolve: CertificateResolver): CallerSystem | null {
  const caller = certificateCaller(request, resolve);
  return caller && resolve.isRevoked?.(caller.serial) ? caller : null;
}

/** Any system with a valid, unrevoked certificate; the route then decides what that system may see. */
export function requireAnySystem(request: FastifyRequest, resolve: CertificateResolver): CallerSystem {
  const caller = certificateCaller(request, resolve);
  if (!caller) throw new GatewayError('GW_ERR_CLIENT_CERT_REQUIRED');
  if (resolve.isRevoked?.(caller.serial)) {
    throw new GatewayError(
      'GW_ERR_CLIENT_CERT_REVOKED',
      `the certificate ${caller.serial} of ${caller.systemId} is revoked`,
    );
  }
  return caller;
}

/** The caller must present a valid, unrevoked certificate naming exactly `systemId`. */
export function requireSystem(
  request: FastifyRequest,
  resolve: CertificateResolver,
  systemId: string,
): CallerSystem {
  const caller = requireAnySystem(request, resolve);
  if (caller.systemId !== systemId) {
    throw new GatewayError(
      'GW_ERR_CLIENT_CERT_FORBIDDEN',
      `the certificate names ${caller.systemId}, not ${systemId}`,
    );
  }
  return caller;
}
