/**
 * The checks behind GET /health/ready beyond bus and stores:
 * - keys: the signing key signs a nonce and its certificate verifies it (once at start and after
 *   every rotation; the result is cached — a probe must not cost a signature each time);
 * - certificates: none of the gateway's own certificates (CA, TLS server, signing, gateway client)
 *   expires within the configured threshold. A connected system's certificate does not make the
 *   gateway unready (the others still work); its expiry is a metric (scrape.ts, from the pins). So
 *   the PKI directory's `systems/` — with PostgreSQL a possibly stale copy of the PKI Secret — is
 *   not read here at all.
 */
import { randomBytes, sign, verify, X509Certificate } from 'node:crypto';
import type { ReadinessCheck } from '../http/routes/operations.ts';
import { listCertificates, NO_SYSTEMS } from '../pki/inventory.ts';
import type { SigningKey } from '../signing/signer.ts';

const GATEWAY_CERTIFICATES = new Set(['ca', 'server', 'signing', 'gateway-client']);
const DAY_MS = 86_400_000;

/** Signs a random nonce with the key and verifies it with the certificate's public key. */
export function probeSigningKey(key: Pick<SigningKey, 'privateKey' | 'certPem'>): {
  ok: boolean;
  detail: string;
} {
  try {
    const nonce = randomBytes(32);
    const signature = sign('sha256', nonce, key.privateKey);
    const certificate = new X509Certificate(key.certPem);
    if (!verify('sha256', nonce, certificate.publicKey, signature)) {
      return { ok: false, detail: 'the signing key does not match its certificate' };
    }
    return { ok: true, detail: `signing key usable (certificate ${certificate.serialNumber.toLowerCase()})` };
  } catch (error) {
    return { ok: false, detail: `the signing key is not usable: ${(error as Error).message}` };
  }
}

export function keysCheck(trust: {
  signingKey(): SigningKey;
  onSigningKeyChange(listener: (key: SigningKey) => void): void;
}): ReadinessCheck {
  let result = probeSigningKey(trust.signingKey());
  trust.onSigningKeyChange((key) => {
    result = probeSigningKey(key);
  });
  return { name: 'keys', check: async () => result };
}

export function certificatesCheck(options: {
  pkiDir: string;
  isRevoked: (serial: string) => boolean;
  thresholdDays: number;
  now?: () => Date;
}): ReadinessCheck {
  return {
    name: 'certificates',
    async check() {
      const now = (options.now ?? (() => new Date()))();
      const problems: string[] = [];
      let earliest: { kind: string; notAfter: string } | null = null;
      for (const c of listCertificates(options.pkiDir, options.isRevoked, now, NO_SYSTEMS)) {
        if (!GATEWAY_CERTIFICATES.has(c.kind)) continue;
        const left = Date.parse(c.notAfter) - now.getTime();
        if (c.status !== 'valid') problems.push(`${c.kind} certificate is ${c.status}`);
        else if (left < options.thresholdDays * DAY_MS) {
          problems.push(
            `${c.kind} certificate expires in ${(left / DAY_MS).toFixed(1)} day(s) (${c.notAfter}), within the ${options.thresholdDays}-day threshold`,
          );
        }
        if (!earliest || c.notAfter < earliest.notAfter) earliest = { kind: c.kind, notAfter: c.notAfter };
      }
      if (problems.length > 0) return { ok: false, detail: problems.join('; ') };
      return {
        ok: true,
        detail: earliest ? `first to expire: ${earliest.kind} on ${earliest.notAfter}` : 'no certificates',
      };
    },
  };
}
