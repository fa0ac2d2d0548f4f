/**
 * The running gateway's view of the systems' pinned certificates, for the sender-signature check
 * (gateway/pipeline/sender-signature.ts) on every document a system signed itself.
 *
 * File store (embedded): the pin file is read on each use (store.current()), as it always was — a
 * re-issue counts at once and there is nothing to go stale; only the parse of a PEM already seen is
 * kept. The store is told apart by the port's `kind`, not by its class, so a wrapped store or a
 * second copy of the module is not taken for a shared one. PostgreSQL: a query per signed message
 * would put a round trip on the ingress path, so the pins are held in memory and the store's
 * version() polled every `pollMs` (one index-backed statement; pins() only when it changed), like
 * the revocations — a re-issue beside another replica is pinned here within a poll. The same pins
 * feed the certificate expiry gauge (observability/scrape.ts), so it shows what is verified with.
 *
 * Failure policy, closed: a pin is used only while this process can say it is current — the last
 * poll succeeded and was at most `maxAgeMs` ago (the propagation delay replicas have anyway).
 * Otherwise the check waits for a fresh read (at most `confirmTimeoutMs`; not when the poll failed
 * less than `pollMs` ago) and, when that fails, refuses the document with GW_ERR_NOT_READY (503: the sender retries) rather than verify it
 * against a pin that may have been replaced. Readiness is not touched: the revocations, read from
 * the same database, already take the replica out of rotation when it cannot be read, and a replica
 * whose pins alone fail still serves every unsigned message.
 */
import { X509Certificate } from 'node:crypto';
import { GatewayError } from '../errors/catalogue.ts';
import type { Logger } from '../log/logger.ts';
import type { SystemCertificateStore } from '../ports/system-certificate-store.ts';

export interface SystemPinsOptions {
  logger: Logger;
  /** Poll interval of a shared store. Default 250 ms. */
  pollMs?: number;
  /** How old the last successful read may be for a pin to count as current. Default 2 s. */
  maxAgeMs?: number;
  /** How long a check waits for a fresh read when the last one is too old or failed. Default 1 s. */
  confirmTimeoutMs?: number;
}

export interface SystemPinsStatus {
  ok: boolean;
  /** Milliseconds since the store was last read successfully (0 for the file store). */
  ageMs: number;
}

export class SystemPins {
  /** The file store: read on each use, no poll. */
  private readonly file: boolean;
  /** Per system, the last PEM read from the file store and its parse (keyed by the PEM: never stale). */
  private readonly parsedFiles = new Map<string, { pem: string; certificate: X509Certificate }>();
  private pinned = new Map<string, X509Certificate>();
  private version = '';
  private readAt = 0;
  private error: Error | null = null;
  private failedAt = 0;
  private reading: Promise<void> | null = null;
  private readonly timer: NodeJS.Timeout | null = null;
  private closed = false;

  /** The pins of `store`, read before this returns when it is shared: throws when they cannot be. */
  static async open(store: SystemCertificateStore, options: SystemPinsOptions): Promise<SystemPins> {
    const pins = new SystemPins(store, options);
    if (!pins.file) {
      await pins.refresh();
      if (pins.error) {
        pins.close();
        throw pins.error;
      }
    }
    return pins;
  }

  private constructor(
    private readonly store: SystemCertificateStore,
    private readonly options: SystemPinsOptions,
  ) {
    this.file = store.kind === 'file';
    if (!this.file) {
      this.timer = setInterval(() => void this.refresh(), options.pollMs ?? 250);
      this.timer.unref();
    }
  }

  /**
   * The system's pinned certificate, or null when it has none. Throws GW_ERR_NOT_READY when the
   * shared store cannot confirm which certificate is current.
   */
  async pinnedCertificate(systemId: string): Promise<X509Certificate | null> {
    if (this.file) {
      const pin = await this.store.current(systemId);
      if (!pin) return null;
      // The store parsed the file already; parsing the same PEM again per document is not free.
      const parsed = this.parsedFiles.get(systemId);
      if (parsed?.pem === pin.certificatePem) return parsed.certificate;
      const certificate = new X509Certificate(pin.certificatePem);
      this.parsedFiles.set(systemId, { pem: pin.certificatePem, certificate });
      return certificate;
    }
    // A read that just failed is not repeated per document: during an outage the poll alone retries.
    const justFailed = this.error !== null && Date.now() - this.failedAt < (this.options.pollMs ?? 250);
    if (!this.current() && !justFailed) await this.confirm();
    if (!this.current()) {
      throw new GatewayError(
        'GW_ERR_NOT_READY',
        `pki: cannot confirm the pinned certificate of ${systemId}: the ${this.store.kind} store was last read ${Math.round(this.ageMs() / 1000)} s ago${this.error ? ` (${this.error.message})` : ''}; its signed documents are refused until it can be read`,
      );
    }
    return this.pinned.get(systemId) ?? null;
  }

  /**
   * Every system's pin as this replica holds it, for observability (the certificate expiry gauge):
   * no statement per call over a shared store — the map the poll keeps — and the files, read now,
   * over the file store. The last pins read even while they cannot be confirmed current: an expiry
   * is still worth showing, and status() (gateway_system_pins_current) says they may be stale.
   */
  async pinnedCertificates(): Promise<ReadonlyMap<string, X509Certificate>> {
    if (!this.file) return this.pinned;
    const pinned = new Map<string, X509Certificate>();
    for (const pin of await this.store.pins())
      pinned.set(pin.systemId, new X509Certificate(pin.certificatePem));
    return pinned;
  }

  status(now = Date.now()): SystemPinsStatus {
    if (this.file) return { ok: true, ageMs: 0 };
    return { ok: this.current(now), ageMs: this.ageMs(now) };
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
  }

  private ageMs(now = Date.now()): number {
    return Math.max(0, now - this.readAt);
  }

  private current(now = Date.now()): boolean {
    return this.readAt > 0 && !this.error && this.ageMs(now) <= (this.options.maxAgeMs ?? 2_000);
  }

  /** A fresh read (the one in flight, if any), waited for at most confirmTimeoutMs. */
  private async confirm(): Promise<void> {
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([
      this.refresh(),
      new Promise<void>((resolve) => {
        timeout = setTimeout(resolve, this.options.confirmTimeoutMs ?? 1_000);
      }),
    ]);
    clearTimeout(timeout);
  }

  /** One read of the store at a time; callers during a read share it. Never rejects. */
  private refresh(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.reading ??= this.read().finally(() => {
      this.reading = null;
    });
    return this.reading;
  }

  private async read(): Promise<void> {
    // What was read is current as of the version read, not as of the end of the read.
    const startedAt = Date.now();
    try {
      const version = await this.store.version();
      if (version !== this.version) {
        const pinned = new Map<string, X509Certificate>();
        for (const pin of await this.store.pins()) {
          pinned.set(pin.systemId, new X509Certificate(pin.certificatePem));
        }
        const changed = [...pinned].filter(([id, c]) => !this.pinned.get(id)?.raw.equals(c.raw));
        if (this.version !== '' && changed.length > 0) {
          this.options.logger.info(
            { systems: changed.map(([id, c]) => ({ system: id, serial: c.serialNumber.toLowerCase() })) },
            'pki: new system certificates pinned',
          );
        }
        this.pinned = pinned;
        this.version = version;
      }
      this.readAt = startedAt;
      if (this.error) {
        this.options.logger.info('pki: system certificates readable again');
        this.error = null;
      }
    } catch (error) {
      if (this.closed) return;
      if (!this.error) {
        this.options.logger.error(
          { err: error, store: this.store.kind },
          'pki: cannot read the system certificates; refusing sender-signed documents until they can be',
        );
      }
      this.error = error as Error;
      this.failedAt = Date.now();
    }
  }
}
