/**
 * The running gateway's live view of its PKI: which serials are revoked, which key seals new
 * documents, which certificates verify seals (current and previous). `gw pki revoke` and
 * `gw pki rotate` change files under <dataDir>/pki from another process; this object notices within
 * a second and every check after that uses the new state — no restart, no dropped request.
 *
 * Change detection: fs.watch on the PKI directory (the CLI replaces files by rename, which the
 * directory watch reports) for promptness, plus a stat poll every `pollMs` (default 250 ms) as the
 * fallback for file systems where inotify does not fire (NFS, some container mounts) or when the
 * watcher fails. A file's identity is (inode, size, mtime): an atomic replace always changes the inode.
 *
 * Failure policy: a revocation file that cannot be read keeps the last good list (and is logged
 * as an error on every attempt); a signing pair that does not match yet (the CLI is between writing
 * the key and the certificate) is retried until it does.
 */
import { X509Certificate } from 'node:crypto';
import { type FSWatcher, statSync, watch } from 'node:fs';
import path from 'node:path';
import type { CallerSystem, CertificateResolver } from '../http/client-auth.ts';
import type { Logger } from '../log/logger.ts';
import { type VerifiedSeal, verifySeal } from '../signing/own-seal.ts';
import type { SigningKey } from '../signing/signer.ts';
import { type VerifiedDocument, verifyDocument } from '../signing/verifier.ts';
import type { Pki } from './bootstrap.ts';
import type { CrlEntry } from './crl.ts';
import { REVOCATION_FILE, type RevokedEntry, readRevocations } from './revocation.ts';
import {
  loadSigningPair,
  PREVIOUS_SIGNING_DIR,
  readPreviousSigningCertificates,
  type SigningPair,
} from './rotation.ts';

export interface TrustOptions {
  logger: Logger;
  /** Fallback poll interval. Default 250 ms (a revocation takes effect in well under a second). */
  pollMs?: number;
  /** Tests turn the watcher off to prove the poll alone suffices. Default true. */
  watch?: boolean;
}

/** How long a published CRL is valid; it is re-signed well before (every CRL_RESIGN_MS). */
const CRL_VALIDITY_MS = 24 * 60 * 60 * 1000;
const CRL_RESIGN_MS = 60 * 60 * 1000;

type Fingerprint = string;

function fingerprint(file: string): Fingerprint {
  try {
    const s = statSync(file, { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}`;
  } catch {
    return 'absent';
  }
}

export class LiveTrust {
  readonly caCertificate: X509Certificate;
  private revokedSerials = new Set<string>();
  private revokedEntries: RevokedEntry[] = [];
  private current: SigningPair;
  private previous: X509Certificate[] = [];
  private verificationSet: X509Certificate[] = [];
  private readonly signingListeners: ((key: SigningKey) => void)[] = [];
  private readonly seen = { revocations: '', signing: '', previous: '' };
  private crl: { der: Buffer; revision: string; signedAt: number } | null = null;
  private lastCrlNumber = 0n;
  private readonly timer: NodeJS.Timeout;
  private watcher: FSWatcher | null = null;
  private closed = false;

  constructor(
    private readonly pki: Pki,
    private readonly options: TrustOptions,
  ) {
    this.caCertificate = pki.caX509;
    this.current = { ...pki.signing, certificate: new X509Certificate(pki.signing.certPem) };
    this.verificationSet = [this.current.certificate];
    this.refresh();
    this.timer = setInterval(() => this.refresh(), options.pollMs ?? 250);
    this.timer.unref();
    if (options.watch ?? true) {
      try {
        this.watcher = watch(pki.dir, { persistent: false }, (_event, name) => {
          if (name === REVOCATION_FILE || name === 'signing.crt' || name === 'signing.key') this.refresh();
        });
        this.watcher.on('error', (error) => {
          options.logger.warn({ err: error }, 'pki: directory watch failed; relying on polling');
          this.watcher?.close();
          this.watcher = null;
        });
      } catch (error) {
        options.logger.warn({ err: error }, 'pki: cannot watch the PKI directory; relying on polling');
      }
    }
  }

  /** Re-reads whatever changed on disk. Called by the watcher and the poll; cheap when nothing did. */
  refresh(): void {
    if (this.closed) return;
    const dir = this.pki.dir;
    const revocations = fingerprint(path.join(dir, REVOCATION_FILE));
    if (revocations !== this.seen.revocations) {
      try {
        const entries = readRevocations(dir);
        this.revokedEntries = entries;
        this.revokedSerials = new Set(entries.map((entry) => entry.serial));
        this.seen.revocations = revocations;
        if (entries.length > 0)
          this.options.logger.info({ revoked: entries.length }, 'pki: revocation list loaded');
      } catch (error) {
        this.options.logger.error(
          { err: error },
          'pki: cannot read the revocation list; keeping the last one',
        );
      }
    }
    const signing = `${fingerprint(path.join(dir, 'signing.crt'))}|${fingerprint(path.join(dir, 'signing.key'))}`;
    const previous = fingerprint(path.join(dir, PREVIOUS_SIGNING_DIR));
    if (signing !== this.seen.signing || previous !== this.seen.previous) {
      try {
        const pair = signing === this.seen.signing ? this.current : loadSigningPair(this.pki);
        this.previous = readPreviousSigningCertificates(dir);
        const changed = !pair.certificate.raw.equals(this.current.certificate.raw);
        this.current = pair;
        this.verificationSet = [
          pair.certificate,
          ...this.previous.filter((c) => !c.raw.equals(pair.certificate.raw)),
        ];
        this.seen.signing = signing;
        this.seen.previous = previous;
        if (changed) {
          this.options.logger.info(
            { serial: pair.certificate.serialNumber.toLowerCase(), previous: this.previous.length },
            'pki: new signing key active',
          );
          for (const listener of this.signingListeners) listener(this.signingKey());
        }
      } catch (error) {
        // Mid-rotation (key written, certificate not yet) or a transient read error: try again.
        this.options.logger.debug({ err: error }, 'pki: signing pair not loadable yet');
      }
    }
  }

  isRevoked = (serial: string): boolean => this.revokedSerials.has(serial);

  get revoked(): readonly RevokedEntry[] {
    return this.revokedEntries;
  }

  /** The key that seals new documents. */
  signingKey(): SigningKey {
    return {
      privateKey: this.current.privateKey,
      certPem: this.current.certPem,
      algorithm: this.current.algorithm,
    };
  }

  /** Called with the new key after every rotation. */
  onSigningKeyChange(listener: (key: SigningKey) => void): void {
    this.signingListeners.push(listener);
  }

  /** Certificates a gateway seal may be signed with: the current one first, then the previous ones. */
  signingCertificates(): readonly X509Certificate[] {
    return this.verificationSet;
  }

  /**
   * Verifies a gateway seal: chain to the CA, one of the gateway's signing certificates, not revoked.
   * The gateway's own canonical seals take the DOM-free path (signing/own-seal.ts), anything else the
   * general verifier — the one check the delivery stage uses, too.
   */
  verifySeal(xml: string): Promise<VerifiedSeal> {
    return verifySeal(xml, {
      trustAnchors: [this.caCertificate],
      pinned: this.verificationSet,
      isRevoked: this.isRevoked,
    });
  }

  /**
   * Verifies a document signed by a party whose certificate is `pinned` (e.g. a system's, from the
   * directory). `parsed`: the caller's parseXmlSafely(xml), when it has one (see verifyDocument).
   */
  verifySignedBy(
    xml: string,
    pinned: X509Certificate | readonly X509Certificate[],
    parsed?: Document,
  ): Promise<VerifiedDocument> {
    return verifyDocument(
      xml,
      { trustAnchors: [this.caCertificate], pinned, isRevoked: this.isRevoked },
      parsed,
    );
  }

  /** The client-certificate resolver for the HTTP layer, revocation-aware (see client-auth.ts). */
  readonly resolveCaller: CertificateResolver = Object.assign(
    (peer: { raw: Buffer }): CallerSystem | null => this.pki.systemOfClientCertificate(peer),
    { isRevoked: (serial: string) => this.isRevoked(serial) },
  );

  /** The current CRL (DER), re-signed when the revocation list changed or an hour has passed. */
  crlDer(now = new Date()): Buffer {
    const revision = this.seen.revocations;
    if (this.crl && this.crl.revision === revision && now.getTime() - this.crl.signedAt < CRL_RESIGN_MS) {
      return this.crl.der;
    }
    // cRLNumber: seconds since the epoch, strictly increasing within this process.
    const seconds = BigInt(Math.floor(now.getTime() / 1000));
    const number = seconds > this.lastCrlNumber ? seconds : this.lastCrlNumber + 1n;
    this.lastCrlNumber = number;
    const entries: CrlEntry[] = this.revokedEntries.map((entry) => ({
      serial: entry.serial,
      revokedAt: new Date(entry.revokedAt),
      reason: entry.reason,
    }));
    const der = this.pki.signCrl({
      entries,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + CRL_VALIDITY_MS),
      number,
    });
    this.crl = { der, revision, signedAt: now.getTime() };
    return der;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.watcher?.close();
    this.watcher = null;
  }
}
