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
  /** A token copied from another store by `gw token import` (detail: tokenId, role, scope, source). */
  'token-imported',
  /**
   * A token revoked by `gw token revoke` (detail: tokenId, role, scope). Earlier revocations were
   * recorded as `token-issued` with detail.action "revoked" and stay so: the chain is never rewritten.
   */
  'token-revoked',
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
  /**
   * Optional, unique per chain, not hashed and not returned: an append whose key the chain already
   * holds writes nothing and yields the entry stored the first time. A bus consumer passes
   * `<topic>/<partition>/<offset>/<n>` so that replaying a partition writes nothing twice.
   */
  idempotencyKey?: string | null;
}

export interface AuditEntry extends Omit<AuditEventInput, 'idempotencyKey'> {
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
  /** Only this chain. */
  chain?: string;
  /** Up to and including this seq. */
  toSeq?: number;
}

/** A message's lifecycle status, derived from its trail by the rules of gateway/pipeline/status.ts. */
export const AUDIT_MESSAGE_STATUSES = [
  'received',
  'accepted',
  'queued',
  'delivered',
  'acknowledged',
  'rejected',
  'failed',
  'dead-lettered',
] as const;
export type AuditMessageStatus = (typeof AUDIT_MESSAGE_STATUSES)[number];

/**
 * One row per message id: the auditors' search index. A projection of the entries, written behind
 * the appends (both stores; every search first brings it up to date, a crash is repaired from a
 * watermark); it is not part of the hash chain (the entries are the evidence).
 */
export interface AuditMessageSummary {
  messageId: string;
  /** Time of the message's first and latest event. */
  firstTime: string;
  lastTime: string;
  status: AuditMessageStatus;
  messageType: string | null;
  sender: string | null;
  receiver: string | null;
  senderSystem: string | null;
  receiverSystem: string | null;
  digest: string | null;
  /** Number of events in the trail. */
  events: number;
}

/**
 * Search over message summaries. Authority filters take DVDV keys or prefix patterns (`ags:14*`).
 * Every filter narrows; results are sorted by (firstTime, messageId), paged with an opaque cursor.
 */
export interface AuditMessageSearch {
  messageId?: string;
  /** Sender or receiver. */
  authority?: string;
  sender?: string;
  receiver?: string;
  /** Sending or receiving system. */
  system?: string;
  /**
   * Sending or receiving system is one of these (an auditor scoped to a Land's systems; uses the
   * per-system indexes, no post-filtering). Empty: nothing.
   */
  systems?: string[];
  senderSystem?: string;
  receiverSystem?: string;
  messageType?: string;
  status?: AuditMessageStatus | AuditMessageStatus[];
  /** firstTime >= from, firstTime < to (ISO 8601 UTC). */
  from?: string;
  to?: string;
  /**
   * Visibility: only messages whose sender or receiver matches one of these patterns (an auditor's
   * scope, e.g. ['ags:14*'] for Sachsen). Absent: everything. Empty: nothing.
   */
  scope?: string[];
  order?: 'asc' | 'desc';
  /** 1..1000 */
  limit: number;
  cursor?: string;
}

export interface AuditMessagePage {
  items: AuditMessageSummary[];
  /** Cursor of the next page; absent on the last one. */
  next?: string;
}

/**
 * What a checkpoint signs (see gateway/audit/checkpoint.ts for the exact bytes). It covers, in this
 * order, the entries of every chain listed in `heads` with `from.seq < seq <= heads.seq`: the leaves of
 * an RFC 6962 Merkle tree over their entry hashes (gateway/audit/merkle.ts).
 */
export interface AuditCheckpointBody {
  type: 'gw-audit-checkpoint';
  version: 1;
  /** 1, 2, 3, … without gaps. */
  id: number;
  time: string;
  /** checkpointHash of the previous checkpoint; 64 zeros for the first. */
  prev: string;
  /** Heads of the previous checkpoint (where this one starts), sorted by chain. */
  from: ChainHead[];
  /** Head of every chain, sorted by chain. */
  heads: ChainHead[];
  treeSize: number;
  /** Hex Merkle root over the covered entry hashes. */
  root: string;
  /** Hex SHA-256 of the signing key's SubjectPublicKeyInfo (DER). */
  keyId: string;
  algorithm: 'ecdsa-p256-sha256';
}

export interface AuditCheckpoint extends AuditCheckpointBody {
  /** Base64 IEEE P1363 (r‖s) ECDSA signature over the canonical body, as WebCrypto produces it. */
  signature: string;
}

/** Signs checkpoint bodies with the dedicated audit key (gateway/audit/audit-key.ts). */
export interface CheckpointSigner {
  keyId: string;
  algorithm: 'ecdsa-p256-sha256';
  /** Base64 P1363 signature over `data`. */
  sign(data: Uint8Array): string;
}

/** Audit path from one entry to the Merkle root of the checkpoint that covers it. */
export interface InclusionProof {
  chain: string;
  seq: number;
  entryHash: string;
  leafIndex: number;
  treeSize: number;
  /** Hex sibling hashes, leaf to root (RFC 9162 §2.1.3). */
  path: string[];
  checkpoint: AuditCheckpoint;
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
  /**
   * Whether any chain holds an entry of `kind` for `messageId`: the pipeline's per-message question
   * ("already accepted?", "delivery recorded?"), answered from the message index without building
   * or returning entries.
   */
  hasEvent(messageId: string, kind: AuditEventKind): Promise<boolean>;
  heads(): Promise<ChainHead[]>;
  /**
   * Signs and stores a checkpoint over everything appended since the previous one (all chains);
   * null when nothing was appended since. Serialised across processes sharing the store.
   */
  createCheckpoint(signer: CheckpointSigner, time?: string): Promise<AuditCheckpoint | null>;
  /** Checkpoints with id > afterId, ascending. */
  checkpoints(query?: { afterId?: number; limit?: number }): Promise<AuditCheckpoint[]>;
  latestCheckpoint(): Promise<AuditCheckpoint | null>;
  /** Proof for one entry against the first checkpoint covering it; null if none covers it yet. */
  inclusionProof(chain: string, seq: number): Promise<InclusionProof | null>;
  searchMessages(search: AuditMessageSearch): Promise<AuditMessagePage>;
  close(): Promise<void>;
}
