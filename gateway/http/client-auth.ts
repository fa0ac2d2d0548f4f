/**
 * Who is calling: the system named by a verified client certificate. TLS has already checked the
 * chain against the gateway CA (requestCert with our CA); systemOfClientCertificate checks it again
 * together with validity and extracts the system id, because the server also lets certificate-less
 * clients in for health, metrics and docs (rejectUnauthorized is off at the TLS level).
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/catalogue.ts';

export interface CallerSystem {
  systemId: string;
  serial: string;
}

export type CertificateResolver = (peer: { raw: Buffer }) => CallerSystem | null;

// Keep-alive connections send many requests over one TLS session: resolve each socket once.
const bySocket = new WeakMap<object, CallerSystem | null>();

export function callerSystem(request: FastifyRequest, resolve: CertificateResolver): CallerSystem | null {
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

/** The caller must present a certificate naming exactly `systemId`. */
export function requireSystem(
  request: FastifyRequest,
  resolve: CertificateResolver,
  systemId: string,
): CallerSystem {
  const caller = callerSystem(request, resolve);
  if (!caller) throw new GatewayError('GW_ERR_CLIENT_CERT_REQUIRED');
  if (caller.systemId !== systemId) {
    throw new GatewayError(
      'GW_ERR_CLIENT_CERT_FORBIDDEN',
      `the certificate names ${caller.systemId}, not ${systemId}`,
    );
  }
  return caller;
}

/** Any system with a valid certificate; the route then decides what that system may see. */
export function requireAnySystem(request: FastifyRequest, resolve: CertificateResolver): CallerSystem {
  const caller = callerSystem(request, resolve);
  if (!caller) throw new GatewayError('GW_ERR_CLIENT_CERT_REQUIRED');
  return caller;
}
