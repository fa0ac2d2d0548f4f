/**
 * The running gateway's live view of its PKI: which serials are revoked, which key seals new
 * documents, which certificates verify seals (current and previous). `gw pki revoke` (through the
 * revocation store: the data directory's file, or PostgreSQL shared by every replica) and
 * `gw pki rotate` (files under <dataDir>/pki) change them from another process; this object notices
 * within a second and every check after that uses the new state — no restart, no dropped request.
 *
 * Change detection: the revocation store's version() polled every `pollMs` (default 250 ms; one
 * stat for the file, one index-backed statement for PostgreSQL), the list read only when it
 * changed. fs.watch on the PKI directory (the CLI replaces files by rename, which the directory
 * watch reports) makes file changes prompt; the stat poll is the fallback for file systems where
 * inotify does not fire (NFS, some container mounts) or when the watcher fails. A file's identity
 * is (inode, size, mtime): an atomic replace always changes the inode.
 *
 * Failure policy, closed: the revocation list is read before the first request (LiveTrust.open
 * throws when it cannot be); a store that cannot be read later keeps the last list, and a list
 * read back without a serial seen before keeps that serial too — revocations only ever add, so a
 * restored backup or a stale copy never re-admits a certificate. While reads fail the error is
 * logged (when it starts and when it ends) and revocationStatus() turns unhealthy after
 * `staleAfterMs` (readiness, metrics: revocation-health.ts). A signing pair that does not match yet
 * (the CLI is between writing the key and the certificate) is retried until it does.
 */
import { X509Certificate } from 'node:crypto';
import { type FSWatcher, statSync, watch } from 'node:fs';
import path from 'node:path';
import type { CallerSystem, CertificateResolver } from '../http/client-auth.ts';
import type { Logger } from '../log/logger.ts';
import type { RevocationStore } from '../ports/revocation-store.ts';
import { type VerifiedSeal, verifySeal } from '../signing/own-seal.ts';
import type { SigningKey } from '../signing/signer.ts';
import { type VerifiedDocument, verifyDocument } from '../signing/verifier.ts';
import type { Pki } from './bootstrap.ts';
import type { CrlEntry } from './crl.ts';
import { FileRevocationStore } from './file-revocation-store.ts';
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
  /**
   * How long the revocation list may go without a successful read before revocationStatus() says
   * unhealthy. Default 5 s (twenty polls: one failed read is not an outage).
   */
  staleAfterMs?: number;
}

/** What a reader of the revocation store knows: the list, as of a version. */
export interface RevocationSnapshot {
  version: string;
  entries: RevokedEntry[];
}

/** The store's list, as of a version; the version is read first, so a change between the two reads shows as a newer version at the next poll. */
export async function readRevocationSnapshot(store: RevocationStore): Promise<RevocationSnapshot> {
  const version = await store.version();
  return { version, entries: await store.list() };
}

export interface RevocationStatus {
  ok: boolean;
  detail: string;
  /** Milliseconds since the store was last read successfully. */
  ageMs: number;
  revoked: number;
}

/** How long a published CRL is valid; it is re-signed well before (every CRL_RESIGN_MS). */
const CRL_VALIDITY_MS = 24 * 60 * 60 * 1000;
const CRL_RESIGN_MS = 60 * 60 * 1000;

const DEFAULT_STALE_AFTER_MS = 5_000;

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
  private readonly seen = { signing: '', previous: '' };
  private readonly revocationStore: RevocationStore;
  private revocationVersion: string;
  /** Bumped whenever the revoked set changes: the CRL is re-signed for it. */
  private revocationRevision = 0;
  private revocationReadAt = Date.now();
  private revocationError: Error | null = null;
  private revocationPoll: { again: boolean } | null = null;
  private crl: { der: Buffer; revision: number; signedAt: number } | null = null;
  private lastCrlNumber = 0n;
  private readonly timer: NodeJS.Timeout;
  private watcher: FSWatcher | null = null;
  private closed = false;

  /**
   * The live trust over `revocations` (the store of the configuration: open-revocation-store.ts),
   * its list read before this returns. Throws when it cannot be read: a gateway that does not know
   * the revocations must not admit anyone.
   */
  static async open(pki: Pki, options: TrustOptions & { revocations: RevocationStore }): Promise<LiveTrust> {
    const snapshot = await readRevocationSnapshot(options.revocations);
    return new LiveTrust(pki, options, { store: options.revocations, snapshot });
  }

  /** Without `revocations`: <pki.dir>/revoked.json, read now (throws on a corrupt file). */
  constructor(
    private readonly pki: Pki,
    private readonly options: TrustOptions,
    revocations?: { store: RevocationStore; snapshot: RevocationSnapshot },
  ) {
    if (revocations) {
      this.revocationStore = revocations.store;
      this.revocationVersion = revocations.snapshot.version;
      this.applyRevocations(revocations.snapshot.entries);
    } else {
      const store = new FileRevocationStore(pki.dir);
      this.revocationStore = store;
      this.revocationVersion = store.versionNow();
      this.applyRevocations(readRevocations(pki.dir));
    }
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

  /** Re-reads whatever changed (the revocations asynchronously). Called by the watcher and the poll; cheap when nothing did. */
  refresh(): void {
    if (this.closed) return;
    this.pollRevocations();
    const dir = this.pki.dir;
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

  /** One read of the revocation store at a time; a trigger during a read makes it read once more. */
  private pollRevocations(): void {
    if (this.revocationPoll) {
      this.revocationPoll.again = true;
      return;
    }
    const poll = { again: false };
    this.revocationPoll = poll;
    void this.readRevocations().finally(() => {
      this.revocationPoll = null;
      if (poll.again) this.pollRevocations();
    });
  }

  private async readRevocations(): Promise<void> {
    try {
      const version = await this.revocationStore.version();
      if (version !== this.revocationVersion) {
        const entries = await this.revocationStore.list();
        if (this.closed) return;
        this.applyRevocations(entries);
        this.revocationVersion = version;
      }
      this.revocationReadAt = Date.now();
      if (this.revocationError) {
        this.options.logger.info(
          { revoked: this.revokedSerials.size },
          'pki: revocation list readable again',
        );
        this.revocationError = null;
      }
    } catch (error) {
      if (this.closed) return;
      if (!this.revocationError) {
        this.options.logger.error(
          { err: error, store: this.revocationStore.kind },
          'pki: cannot read the revocation list; keeping the last one',
        );
      }
      this.revocationError = error as Error;
    }
  }

  /** Takes the store's list, keeping every serial known before (revocations only add). */
  private applyRevocations(entries: RevokedEntry[]): void {
    const listed = new Set(entries.map((entry) => entry.serial));
    const kept = this.revokedEntries.filter((entry) => !listed.has(entry.serial));
    if (kept.length > 0) {
      this.options.logger.warn(
        { serials: kept.map((entry) => entry.serial), store: this.revocationStore.kind },
        'pki: the revocation store no longer lists revocations seen before; they stay revoked',
      );
    }
    const merged = [...entries, ...kept];
    const changed = merged.length !== this.revokedSerials.size;
    this.revokedEntries = merged;
    this.revokedSerials = new Set(merged.map((entry) => entry.serial));
    if (changed) {
      this.revocationRevision++;
      if (merged.length > 0)
        this.options.logger.info({ revoked: merged.length }, 'pki: revocation list loaded');
    }
  }

  /** Whether the revocation list is current: read successfully within `staleAfterMs`. */
  revocationStatus(now = Date.now()): RevocationStatus {
    const ageMs = Math.max(0, now - this.revocationReadAt);
    const staleAfterMs = this.options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
    const revoked = this.revokedSerials.size;
    const store = this.revocationStore.kind;
    if (this.revocationError && ageMs > staleAfterMs) {
      return {
        ok: false,
        detail: `${store} revocation store unreadable for ${Math.round(ageMs / 1000)} s (${this.revocationError.message}); refusing the ${revoked} serial(s) last known`,
        ageMs,
        revoked,
      };
    }
    return { ok: true, detail: `${revoked} revoked serial(s) from the ${store} store`, ageMs, revoked };
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
    const revision = this.revocationRevision;
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
