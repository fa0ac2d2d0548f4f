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
 *
 * Order, so that a crash or a lost answer leaves nothing unaccounted for: the key and certificate
 * go to systems/pending/ first; then `beforePin` (the CLI's audit event: an issuance nobody can
 * find in the trail must not become a pin); then the pin; then the files above. A shared pin whose
 * answer was lost may have committed — its key is in systems/pending/ and the error says so.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import type { SystemCertificateStore } from '../ports/system-certificate-store.ts';
import { assertSystemId, keyAlgorithmFor, LEAF_DAYS, type Pki, systemUri } from './bootstrap.ts';
import { FileSystemCertificateStore } from './file-system-certificate-store.ts';
import { ensureDir, withLock, writeAtomic } from './files.ts';
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
    /**
     * Runs after the certificate is issued and its key kept in systems/pending/, before anything is
     * pinned; a throw stops the issue there. `replacing`: the pin it is about to replace, as read now.
     */
    beforePin?: (certificate: X509Certificate, replacing: X509Certificate | null) => Promise<void>;
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
    const certificate = new X509Certificate(issued.certPem);
    const pendingDir = path.join(path.dirname(certPath), 'pending');
    const pending = {
      cert: path.join(pendingDir, `${systemId}.crt`),
      key: path.join(pendingDir, `${systemId}.key`),
    };
    ensureDir(pendingDir);
    writeAtomic(pending.key, issued.keyPem);
    writeAtomic(pending.cert, issued.certPem);
    const local = new FileSystemCertificateStore(pki.dir);
    const shared = options.pins && options.pins.kind !== 'file' ? options.pins : null;
    try {
      const current = await (shared ?? local).current(systemId);
      await options.beforePin?.(certificate, current ? new X509Certificate(current.certificatePem) : null);
    } catch (error) {
      // Nothing was pinned: the pending key belongs to no pin.
      for (const file of Object.values(pending)) rmSync(file, { force: true });
      throw error;
    }
    const pin = { systemId, certificatePem: issued.certPem, by: options.by ?? 'cli' };
    let pinnedShared: Awaited<ReturnType<SystemCertificateStore['pin']>> | null = null;
    if (shared) {
      try {
        pinnedShared = await shared.pin(pin);
      } catch (error) {
        throw new Error(
          `the pin of ${systemId} to serial ${certificate.serialNumber.toLowerCase()} did not confirm: ${(error as Error).message}. ` +
            `It may have been written; its key and certificate are in ${pendingDir} (\`gw pki list\` shows the pin)`,
          { cause: error },
        );
      }
    }
    writeAtomic(keyPath, issued.keyPem);
    const pinnedLocal = await local.pin(pin);
    // The shared store knows what was pinned; this data directory's copy may be older.
    const previous = pinnedShared ? pinnedShared.replaced : pinnedLocal.replaced;
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
    for (const file of Object.values(pending)) rmSync(file, { force: true });
    return {
      certificate,
      replaced,
      files: { cert: certPath, key: keyPath, p12: p12Path },
      p12Password,
    };
  });
}
