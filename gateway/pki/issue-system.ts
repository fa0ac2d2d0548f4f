/**
 * `gw pki issue <systemId>`: a new client+signing certificate for a connected system, as PEM
 * (systems/<id>.crt, systems/<id>.key — the system's own key, handed over to it) and as PKCS#12
 * (systems/<id>.p12, with the CA certificate, under a password). A certificate it replaces is kept
 * under systems/replaced/ so that `gw pki list` still shows it; it stays valid until revoked.
 *
 * The new certificate becomes the system's pin through the system certificate store: the file
 * above in the embedded mode; with PostgreSQL the shared pin first (every replica pins it within a
 * second; when it cannot be written nothing changes anywhere), then this data directory's files.
 * The pin is replaced at once, without an overlap: documents signed with the replaced key are
 * refused from then on, as they always were when the file was overwritten.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import path from 'node:path';
import type { SystemCertificateStore } from '../ports/system-certificate-store.ts';
import { assertSystemId, keyAlgorithmFor, LEAF_DAYS, type Pki, systemUri } from './bootstrap.ts';
import { FileSystemCertificateStore } from './file-system-certificate-store.ts';
import { withLock, writeAtomic } from './files.ts';
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
    /** The configured store (open-system-certificate-store.ts). Default: the data directory's files. */
    pins?: SystemCertificateStore;
    /** Who issued it, for the shared store's history. Default `cli`. */
    by?: string;
  },
): Promise<IssuedSystem> {
  assertSystemId(systemId);
  return withLock(pki.dir, async () => {
    const certPath = pki.systemCertPath(systemId);
    const keyPath = pki.systemKeyPath(systemId);
    const p12Path = path.join(path.dirname(certPath), `${systemId}.p12`);
    const issued = pki.issue({
      commonName: systemId,
      sanUris: [systemUri(systemId)],
      usage: ['client', 'signing'],
      days: options.days ?? LEAF_DAYS,
      keyAlgorithm: keyAlgorithmFor(options.signingAlgorithm, options.rsaBits),
    });
    const pin = { systemId, certificatePem: issued.certPem, by: options.by ?? 'cli' };
    const shared = options.pins && options.pins.kind !== 'file' ? await options.pins.pin(pin) : null;
    writeAtomic(keyPath, issued.keyPem);
    const local = await new FileSystemCertificateStore(pki.dir).pin(pin);
    // The shared store knows what was pinned; this data directory's copy may be older.
    const previous = shared ? shared.replaced : local.replaced;
    const replaced = previous ? new X509Certificate(previous.certificatePem) : null;
    const p12Password = options.p12Password ?? randomBytes(18).toString('base64url');
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
