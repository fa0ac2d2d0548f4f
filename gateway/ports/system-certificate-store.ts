/**
 * Where the connected systems' pinned certificates are kept — the one certificate per system that
 * a document the system signed itself must be signed with (gateway/pipeline/sender-signature.ts):
 * <dataDir>/pki/systems/<id>.crt for one host (gateway/pki/file-system-certificate-store.ts, the
 * embedded default, the files as they always were), or PostgreSQL
 * (gateway/pki/pg-system-certificate-store.ts) when the gateway keeps its state there
 * (DATABASE_URL): `gw pki issue` run beside any replica re-pins the system at every replica, and a
 * pod whose data directory is a stale copy of the PKI Secret does not pin the old certificate.
 * gateway/pki/open-system-certificate-store.ts decides which, by the rule the revocations follow.
 *
 * Semantics, those of the file: the certificate pinned last is the pin, at once and alone. A
 * re-issue replaces the pin without an overlap (a document signed with the replaced key is refused
 * from then on, as when the file was overwritten); the replaced certificate stays in the history,
 * never pinned again. Validity and revocation are not the store's business: the verifier checks
 * both, so an expired or revoked pin refuses rather than falling back to an older certificate.
 */

export interface SystemCertificate {
  systemId: string;
  /** Normalised as normalizeSerial prints it. */
  serial: string;
  certificatePem: string;
  /** ISO 8601, from the certificate. */
  notBefore: string;
  notAfter: string;
  /** When it was pinned; the file store, which records no more than the certificate, reports notBefore. */
  issuedAt: string;
  /** Who pinned it (`cli`, `import`, `bootstrap`); absent in the file store. */
  issuedBy?: string;
}

export interface PinInput {
  systemId: string;
  /** A certificate naming `systemId` (SAN URI or CN). */
  certificatePem: string;
  by: string;
  /** Default now. */
  now?: Date;
}

export interface PinResult {
  /** The system's pin after the call. */
  entry: SystemCertificate;
  /** The pin this call replaced, if it replaced one. */
  replaced: SystemCertificate | null;
  /** False when nothing changed: the certificate was the pin already, or (pinIfAbsent) another one is. */
  added: boolean;
}

export interface SystemCertificateStore {
  readonly kind: 'file' | 'postgres';
  /**
   * Makes the certificate the system's pin. Idempotent for the current pin; refuses
   * (GW_ERR_BAD_REQUEST) a certificate that does not name the system and one that was pinned
   * before and replaced — a replaced key never becomes current again.
   */
  pin(input: PinInput): Promise<PinResult>;
  /**
   * pin() only when the system has no pin at all: the import of a data directory's files, which
   * must never displace a pin made since by `gw pki issue` beside another replica.
   */
  pinIfAbsent(input: PinInput): Promise<PinResult>;
  /** The system's pin, read from the storage now (no cache), or null. */
  current(systemId: string): Promise<SystemCertificate | null>;
  /** Every system's pin. */
  pins(): Promise<SystemCertificate[]>;
  /** Every certificate the system was pinned to, oldest first (the pin last). */
  history(systemId: string): Promise<SystemCertificate[]>;
  /**
   * A cheap value that differs after every pin any process made: readers poll it and read pins()
   * only when it changed. Opaque; compare for equality only.
   */
  version(): Promise<string>;
  close(): Promise<void>;
}
