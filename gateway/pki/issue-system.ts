/**
 * `gw pki issue <systemId>`: a new client+signing certificate for a connected system, as PEM
 * (systems/<id>.crt, systems/<id>.key — the system's own key, handed over to it) and as PKCS#12
 * (systems/<id>.p12, with the CA certificate, under a password). A certificate it replaces is kept
 * under systems/replaced/ so that `gw pki list` still shows it; it stays valid until revoked.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { assertSystemId, keyAlgorithmFor, LEAF_DAYS, type Pki, systemUri } from './bootstrap.ts';
import { ensureDir, readText, withLock, writeAtomic } from './files.ts';
import { createPkcs12 } from './pkcs12.ts';

export interface IssuedSystem {
  certificate: X509Certificate;
  replaced: X509Certificate | null;
  files: { cert: string; key: string; p12: string };
  /** The PKCS#12 password: the one given, or a generated one (shown to the operator once). */
  p12Password: string;
}

export async function issueSystemCertificate(
  pki: Pki,
  systemId: string,
  options: {
    signingAlgorithm: 'rsa-sha256' | 'ecdsa-p256-sha256';
    rsaBits: 2048 | 3072;
    days?: number;
    p12Password?: string;
  },
): Promise<IssuedSystem> {
  assertSystemId(systemId);
  return withLock(pki.dir, () => {
    const certPath = pki.systemCertPath(systemId);
    const keyPath = pki.systemKeyPath(systemId);
    const p12Path = path.join(path.dirname(certPath), `${systemId}.p12`);
    let replaced: X509Certificate | null = null;
    if (existsSync(certPath)) {
      const previousPem = readText(certPath);
      replaced = new X509Certificate(previousPem);
      const archive = path.join(path.dirname(certPath), 'replaced');
      ensureDir(archive);
      writeAtomic(path.join(archive, `${systemId}-${replaced.serialNumber.toLowerCase()}.crt`), previousPem);
    }
    const issued = pki.issue({
      commonName: systemId,
      sanUris: [systemUri(systemId)],
      usage: ['client', 'signing'],
      days: options.days ?? LEAF_DAYS,
      keyAlgorithm: keyAlgorithmFor(options.signingAlgorithm, options.rsaBits),
    });
    const p12Password = options.p12Password ?? randomBytes(18).toString('base64url');
    writeAtomic(keyPath, issued.keyPem);
    writeAtomic(certPath, issued.certPem);
    writeAtomic(
      p12Path,
      createPkcs12({
        key: issued.keyPem,
        certificatesPem: [issued.certPem, pki.caCertPem],
        password: p12Password,
        friendlyName: systemId,
      }),
    );
    return {
      certificate: new X509Certificate(issued.certPem),
      replaced,
      files: { cert: certPath, key: keyPath, p12: p12Path },
      p12Password,
    };
  });
}
