/**
 * The DocumentArchive port: full signed documents, kept apart from the audit chain (which holds
 * only their digests), encrypted at rest, for the retention period of their contract and then
 * crypto-shredded. Implementations: gateway/audit/archive/ (SQLite, PostgreSQL); proved by
 * test/conformance/document-archive.conformance.ts.
 */
export interface ArchiveDocumentInput {
  /** nachrichtenUUID. */
  messageId: string;
  /** Hex SHA-256 of `document` (the audit entries carry the same digest); checked on put and get. */
  digest: string;
  contentType: string;
  document: Buffer;
  /** ISO 8601 UTC. */
  archivedAt: string;
  /** The contract's requirements.retentionDays. */
  retentionDays: number;
}

interface ArchivedMeta {
  messageId: string;
  digest: string;
  contentType: string;
  archivedAt: string;
  /** YYYY-MM-DD (UTC): the last day the document is kept. */
  expiresOn: string;
}

export type ArchivedDocument =
  | (ArchivedMeta & { status: 'available'; document: Buffer })
  | (ArchivedMeta & { status: 'shredded'; shreddedAt: string });

export interface DocumentArchive {
  readonly kind: string;
  /**
   * Encrypts and stores a document under the data key of its expiry day. Idempotent per
   * (messageId, digest). `stored` is false for a repeat, and for a document already past retention.
   */
  put(document: ArchiveDocumentInput): Promise<{ stored: boolean; expiresOn: string }>;
  /** Every archived version of a message (usually one), oldest first. */
  get(messageId: string): Promise<ArchivedDocument[]>;
  /**
   * Crypto-shredding: destroys the data key of every expiry day before `now`'s date, which makes
   * those documents unreadable everywhere, backups included, and drops their ciphertext.
   */
  shred(now?: Date): Promise<{ keys: number; documents: number }>;
  close(): Promise<void>;
}
