/**
 * Who is calling: the system named by a verified client certificate. TLS has already checked the
 * chain against the gateway CA (requestCert with our CA); the resolver checks it again together
 * with validity and extracts the system id, because the server also lets certificate-less clients
 * in for health, metrics and docs (rejectUnauthorized is off at the TLS level).
 *
 * Revocation is checked on EVERY request, not once per connection: a keep-alive connection opened
 * before `gw pki revoke` must not outlive the revocation.
 *
 * A certificate that is presented but does not authenticate (expired, not yet valid, another CA's,
 * made for TLS servers only, revoked) is refused like no certificate at all, with the same codes —
 * but the refusal says why, and names the certificate as presented (serial, subject, issuer) for the
 * audit log. What it claims is never taken as the caller's identity: only a verified, unrevoked
 * certificate names a system.
 */
import { X509Certificate } from 'node:crypto';
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
  /**
   * Whether the directory lists the system now, consulted on every request like revocation: a
   * certificate of the gateway's CA for a system the directory does not (or no longer) list
   * authenticates nothing — deny by default, also on connections kept alive across a reload.
   */
  isListed?: (systemId: string) => boolean;
}

/** Why a presented certificate authenticates no system: a short vocabulary auditors can filter on. */
export type CertificateRefusalReason =
  | 'expired'
  | 'not-yet-valid'
  | 'untrusted-issuer'
  | 'wrong-key-usage'
  | 'revoked'
  | 'no-system-identity'
  | 'invalid';

/** A presented client certificate that was refused, as it describes itself (never trusted). */
export interface RefusedCertificate {
  reason: CertificateRefusalReason;
  /** The verification error of the TLS handshake as OpenSSL reports it (CERT_HAS_EXPIRED, …), if any. */
  verifyError: string | null;
  /** Lower-case hex, as the certificate states it. */
  serial: string | null;
  /** RFC 2253-like, one RDN after another (`CN=sn-melde, O=…`), as the certificate states it. */
  subject: string | null;
  issuer: string | null;
}

// Keep-alive connections send many requests over one TLS session: resolve each socket once.
const bySocket = new WeakMap<object, CallerSystem | null>();
// Only filled for connections whose certificate is refused: the hot path never describes one.
const presentedBySocket = new WeakMap<object, Omit<RefusedCertificate, 'reason' | 'verifyError'> | null>();

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

// A hostile certificate can carry subjects of many kilobytes: what is recorded is bounded.
const MAX_NAME_CHARS = 256;
const MAX_SERIAL_CHARS = 64;
const MAX_VERIFY_ERROR_CHARS = 64;

function bounded(text: string, max: number): string {
  // Node escapes control characters in names; anything else that slipped through is replaced.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length <= max ? clean : `${clean.slice(0, max - 1)}…`;
}

/** Node prints a name one RDN per line; the audit log gets one line. */
function nameOf(multiline: string): string {
  return bounded(multiline.split('\n').join(', '), MAX_NAME_CHARS);
}

/** The peer certificate as it describes itself, or null when none was presented (cached per connection). */
function presentedCertificate(socket: TLSSocket): Omit<RefusedCertificate, 'reason' | 'verifyError'> | null {
  if (presentedBySocket.has(socket)) return presentedBySocket.get(socket) ?? null;
  let presented: Omit<RefusedCertificate, 'reason' | 'verifyError'> | null = null;
  const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : null;
  if (peer?.raw && peer.raw.length > 0) {
    let certificate: X509Certificate | null = null;
    try {
      certificate = new X509Certificate(peer.raw);
    } catch {
      // OpenSSL parsed it for the handshake; should Node not, the serial is still worth recording.
    }
    const serial = certificate?.serialNumber ?? peer.serialNumber;
    presented = {
      serial: serial ? bounded(serial.toLowerCase(), MAX_SERIAL_CHARS) : null,
      subject: certificate ? nameOf(certificate.subject) : null,
      issuer: certificate ? nameOf(certificate.issuer) : null,
    };
  }
  presentedBySocket.set(socket, presented);
  return presented;
}

/** OpenSSL's verification errors (as Node names them) in the reason vocabulary. */
function reasonOfVerifyError(code: string): CertificateRefusalReason {
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return 'expired';
    case 'CERT_NOT_YET_VALID':
      return 'not-yet-valid';
    case 'INVALID_PURPOSE':
      return 'wrong-key-usage';
    case 'CERT_REVOKED':
      return 'revoked';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'CERT_SIGNATURE_FAILURE':
    case 'CERT_UNTRUSTED':
    case 'INVALID_CA':
      return 'untrusted-issuer';
    default:
      return 'invalid';
  }
}

/**
 * The client certificate presented on this request's connection and why it authenticates no system;
 * null when none was presented, or when it authenticates one.
 */
export function refusedCertificate(
  request: FastifyRequest,
  resolve: CertificateResolver,
): RefusedCertificate | null {
  const socket = request.raw.socket as TLSSocket;
  const caller = certificateCaller(request, resolve);
  if (caller && !resolve.isRevoked?.(caller.serial)) return null;
  const presented = presentedCertificate(socket);
  if (!presented) return null;
  if (caller) return { reason: 'revoked', verifyError: null, ...presented };
  if (socket.authorized) {
    // TLS accepted the chain, validity and key usage; the resolver found no system in it.
    return { reason: 'no-system-identity', verifyError: null, ...presented };
  }
  const error = socket.authorizationError as unknown;
  const code = typeof error === 'string' ? error : ((error as { code?: unknown } | null)?.code ?? null);
  const verifyError = typeof code === 'string' ? bounded(code, MAX_VERIFY_ERROR_CHARS) : null;
  return { reason: verifyError ? reasonOfVerifyError(verifyError) : 'invalid', verifyError, ...presented };
}

/** The fields an audited refusal carries about the refused certificate; none without one. */
export function refusedCertificateDetail(refused: RefusedCertificate | null): Record<string, unknown> {
  if (!refused) return {};
  return {
    reason: refused.reason,
    ...(refused.verifyError ? { verifyError: refused.verifyError } : {}),
    certificateSerial: refused.serial,
    subject: refused.subject,
    issuer: refused.issuer,
  };
}

const REASON_WORDS: Record<CertificateRefusalReason, string> = {
  expired: 'it has expired',
  'not-yet-valid': 'it is not valid yet',
  'untrusted-issuer': 'it is not issued by the gateway CA',
  'wrong-key-usage': 'its key usage does not admit TLS client authentication',
  revoked: 'it has been revoked',
  'no-system-identity': 'it names no system',
  invalid: 'it did not verify',
};

/** The refusal in words for the problem's detail: the reason and OpenSSL's code, nothing from the certificate. */
export function refusalInWords(refused: RefusedCertificate): string {
  const code = refused.verifyError ? ` (${refused.verifyError})` : '';
  return `the presented client certificate was refused: ${REASON_WORDS[refused.reason]}${code}`;
}

/** Any system with a valid, unrevoked certificate; the route then decides what that system may see. */
export function requireAnySystem(request: FastifyRequest, resolve: CertificateResolver): CallerSystem {
  const caller = certificateCaller(request, resolve);
  if (!caller) {
    const refused = refusedCertificate(request, resolve);
    throw refused
      ? new GatewayError('GW_ERR_CLIENT_CERT_REQUIRED', refusalInWords(refused))
      : new GatewayError('GW_ERR_CLIENT_CERT_REQUIRED');
  }
  if (resolve.isRevoked?.(caller.serial)) {
    throw new GatewayError(
      'GW_ERR_CLIENT_CERT_REVOKED',
      `the certificate ${caller.serial} of ${caller.systemId} is revoked`,
    );
  }
  // The ingress's answer for it (pipeline/ingress.ts), on every route: the same 403 whatever the
  // path names, so that no answer tells a caller which systems the directory lists.
  if (resolve.isListed && !resolve.isListed(caller.systemId)) {
    throw new GatewayError(
      'GW_ERR_CLIENT_CERT_FORBIDDEN',
      `the certificate names ${caller.systemId}, which the directory does not list`,
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
