/**
 * The AuditStore port: an append-only, hash-chained event log.
 *
 * The store assigns `seq` (1, 2, 3, … per chain, no gaps) and computes the chain hashes inside the
 * same transaction as the insert, so two writers can never fork a chain. The hash rules live in
 * gateway/audit/hash-chain.ts and are shared by every implementation and by the offline verifier.
 * Proved by test/conformance/audit-store.conformance.ts.
 */
export const AUDIT_EVENT_KINDS = [
  'received',
  'rejected',
  'accepted',
  'signed',
  'converted',
  'queued',
  'delivery-attempted',
  'delivered',
  'fetched',
  'acknowledged',
  'failed',
  'dead-lettered',
  'replayed',
  'certificate-issued',
  'certificate-revoked',
  'contract-changed',
  'token-issued',
  'audit-export',
] as const;
export type AuditEventKind = (typeof AUDIT_EVENT_KINDS)[number];

export interface AuditEventInput {
  /** ISO 8601 with milliseconds, UTC. */
  time: string;
  kind: AuditEventKind;
  /** Who caused the event: `system:<id>`, `gateway`, `token:<id>`, `cli`. */
  actor: string;
  /** nachrichtenUUID, or the request id when a request was rejected before a message existed. */
  messageId: string | null;
  /** DVDV keys (`ags:14612000`) of the authorities, where known. */
  sender: string | null;
  receiver: string | null;
  senderSystem: string | null;
  receiverSystem: string | null;
  /** Message type (`xmeld:25.11:rueckmeldung.anmeldunginland.0201`), where known. */
  messageType: string | null;
  /** Hex SHA-256 of the signed document, where one exists. */
  digest: string | null;
  /** Metadata only (error codes, attempt numbers, versions); never personal data. */
  detail: Record<string, unknown>;
}

export interface AuditEntry extends AuditEventInput {
  chain: string;
  seq: number;
  /** Hex SHA-256; the first entry of a chain has 64 zeros. */
  prevHash: string;
  hash: string;
}

export interface AuditQuery {
  messageId?: string;
  kind?: AuditEventKind;
  fromSeq?: number;
  limit?: number;
}

export interface ChainHead {
  chain: string;
  seq: number;
  hash: string;
}

export interface AuditStore {
  readonly kind: string;
  /** Appends in order to `chain` (default 'main') atomically and durably; returns the stored entries. */
  append(events: AuditEventInput[], chain?: string): Promise<AuditEntry[]>;
  /** Entries in (chain, seq) order. */
  query(query: AuditQuery): Promise<AuditEntry[]>;
  heads(): Promise<ChainHead[]>;
  close(): Promise<void>;
}
