/**
 * Where the bearer tokens of people (auditors, operators; gateway/auth/tokens.ts) are kept: one
 * SQLite file in the data directory (gateway/auth/sqlite-token-store.ts, <dataDir>/auth.sqlite) for
 * one host, or PostgreSQL (gateway/auth/pg-token-store.ts) when the gateway keeps its state there
 * (DATABASE_URL): every replica, and `gw token` run in any of them, reads and writes the same rows.
 * gateway/auth/open-token-store.ts decides which, by the rule the audit store follows.
 *
 * Stores keep what tokens.ts mints and hand back what it checks: the token format, the hashing of
 * the secret, the constant-time comparison and the status rules are the same in every store.
 */
import type { Permission, PersonRole, Scope } from '../auth/roles.ts';

export interface TokenRecord {
  id: string;
  role: PersonRole;
  scope: string;
  name: string;
  createdAt: string;
  createdBy: string;
  expiresAt: string;
  revokedAt: string | null;
  permissions: Permission[];
}

export type TokenStatus = 'active' | 'expired' | 'revoked';

export interface IssueTokenInput {
  role: PersonRole;
  scope: string;
  /** A label for people: who holds it, what for. */
  name?: string;
  /** Lifetime in milliseconds (parseDuration). */
  lifetimeMs: number;
  createdBy: string;
  now?: Date;
  permissions?: Permission[];
}

/**
 * A token as a store keeps it: the record and the SHA-256 of its secret (never the secret itself).
 * Only for moving tokens between stores (`gw token import`): the hash is what lets the holder's
 * existing secret keep working in the new store.
 */
export interface StoredToken {
  record: TokenRecord;
  secretHash: Buffer;
}

/** What importRecord() did: wrote the token, or found its id taken and left the stored one as it was. */
export type ImportResult = { imported: true } | { imported: false; existing: StoredToken };

/** The holder of a token that passed authenticate(). */
export type AuthenticatedToken = TokenRecord & { parsedScope: Scope };

export interface TokenStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Creates a token; the returned `token` string is the only time the secret exists outside a hash. */
  issue(input: IssueTokenInput): Promise<{ token: string; record: TokenRecord }>;
  /**
   * The token's holder, or a GatewayError GW_ERR_TOKEN_INVALID naming why (malformed, unknown,
   * expired, revoked). Reads the stored row on every call, never a cached answer: a revocation or
   * expiry, by any process sharing the storage, refuses the very next request.
   */
  authenticate(token: string, now?: Date): Promise<AuthenticatedToken>;
  /** Marks a token revoked. The record, or undefined when no token has this id. */
  revoke(id: string, now?: Date): Promise<{ record: TokenRecord; changed: boolean } | undefined>;
  /** Every token, oldest first (never a secret or its hash). */
  list(): Promise<TokenRecord[]>;
  /** Every token with its secret's hash, oldest first: the source side of `gw token import`. */
  exportAll(): Promise<StoredToken[]>;
  /**
   * Writes a token exactly as given (id, hash, times, revocation) if no token has its id; else
   * writes nothing and returns the stored one, whatever it holds: the caller judges a match or a
   * conflict (gateway/auth/token-import.ts). Atomic per token, so two imports racing on one id store
   * it once. A record a store could not have minted (checkStoredToken) is refused with
   * GW_ERR_BAD_REQUEST and nothing is written.
   */
  importRecord(token: StoredToken): Promise<ImportResult>;
  close(): Promise<void>;
}
