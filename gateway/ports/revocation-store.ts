/**
 * Where the revoked client and signing certificates are kept: <dataDir>/pki/revoked.json for one
 * host (gateway/pki/file-revocation-store.ts, the embedded default), or PostgreSQL
 * (gateway/pki/pg-revocation-store.ts) when the gateway keeps its state there (DATABASE_URL): a
 * `gw pki revoke` run beside any replica reaches every replica, and a replaced pod loses none.
 * gateway/pki/open-revocation-store.ts decides which, by the rule the token store follows.
 *
 * Revocations only ever add: nothing un-revokes a serial, so a reader may keep what it has seen
 * (gateway/pki/trust.ts does, to fail closed when the store cannot be read).
 */
import type { RevocationReason } from '../pki/crl.ts';
import type { RevokedEntry } from '../pki/revocation.ts';

export interface RevokeInput {
  /** Any form normalizeSerial accepts; stored normalised. */
  serial: string;
  reason: RevocationReason;
  /** For people reading the list; never used for decisions. */
  subject?: string;
  /** Who revoked it: `cli`, `import`, … */
  by: string;
  /** The revocation time (an import keeps the original one). Default now. */
  now?: Date;
}

export interface RevocationStore {
  readonly kind: 'file' | 'postgres';
  /**
   * Adds a revocation. Idempotent: a serial revoked before keeps its first entry (`added: false`),
   * also when two processes revoke it at once.
   */
  revoke(input: RevokeInput): Promise<{ entry: RevokedEntry; added: boolean }>;
  /**
   * A cheap value that differs after every revocation any process made: readers poll it and read
   * list() only when it changed. Opaque; compare for equality only.
   */
  version(): Promise<string>;
  /** Every revocation, oldest first. */
  list(): Promise<RevokedEntry[]>;
  close(): Promise<void>;
}
