/**
 * Bearer tokens for people (auditors, operators) and metrics scrapers: what a token is and when it
 * admits its holder, the same whichever store keeps them (gateway/ports/token-store.ts:
 * <dataDir>/auth.sqlite, or PostgreSQL when the gateway keeps its state there).
 *
 * A token is `gwt_<id>_<secret>`: the id (12 hex digits) names it in lists, logs and the audit
 * trail; the secret (32 random bytes, base64url) is shown once at issuance and stored only as its
 * SHA-256. A fast hash is right here: the secret has 256 bits of entropy, so there is nothing to
 * brute-force — slow hashes (scrypt) exist for low-entropy passwords. Comparison is constant-time.
 *
 * Every check reads the row (an indexed lookup), so a revocation or expiry takes effect on the very
 * next request, in every process sharing the store: the data directory's file (SQLite WAL) or the
 * PostgreSQL database of all replicas.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../errors/catalogue.ts';
import type { AuthenticatedToken, IssueTokenInput, TokenRecord, TokenStatus } from '../ports/token-store.ts';
import { formatScope, PERMISSIONS, PERSON_ROLES, parseScope, roleTokenFlaw } from './roles.ts';

export type { IssueTokenInput, TokenRecord, TokenStatus } from '../ports/token-store.ts';

export const TOKENS_FILE = 'auth.sqlite';
const TOKEN_PATTERN = /^gwt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
const MAX_LIFETIME_MS = 366 * 24 * 60 * 60 * 1000;

/** `30d`, `12h`, `90m` → milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d{1,4})([mhd])$/.exec(text.trim());
  if (!match) {
    throw new GatewayError(
      'GW_ERR_BAD_REQUEST',
      `not a duration (like 30d, 12h, 90m): ${JSON.stringify(text)}`,
    );
  }
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}

function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

export function statusOf(record: TokenRecord, now = new Date()): TokenStatus {
  if (record.revokedAt) return 'revoked';
  return Date.parse(record.expiresAt) <= now.getTime() ? 'expired' : 'active';
}

/** A new token from valid input: the string for its holder, the record and the hash for the store. */
export function mintToken(input: IssueTokenInput): {
  token: string;
  record: TokenRecord;
  secretHash: Buffer;
} {
  if (!PERSON_ROLES.includes(input.role)) {
    throw new GatewayError(
      'GW_ERR_BAD_REQUEST',
      `role must be ${PERSON_ROLES.join(', ')}, got ${JSON.stringify(input.role)}`,
    );
  }
  const scope = parseScope(input.scope);
  if (!scope) {
    throw new GatewayError(
      'GW_ERR_BAD_REQUEST',
      `scope must be *, land:<Land> (e.g. land:SN) or system:<id>, got ${JSON.stringify(input.scope)}`,
    );
  }
  if (!(input.lifetimeMs > 0 && input.lifetimeMs <= MAX_LIFETIME_MS)) {
    throw new GatewayError('GW_ERR_BAD_REQUEST', 'a token lives between one minute and 366 days');
  }
  const permissions = [...new Set(input.permissions ?? [])].sort();
  for (const permission of permissions) {
    if (!(PERMISSIONS as readonly string[]).includes(permission)) {
      throw new GatewayError('GW_ERR_BAD_REQUEST', `unknown permission ${JSON.stringify(permission)}`);
    }
  }
  const flaw = roleTokenFlaw(input.role, formatScope(scope), permissions);
  if (flaw) throw new GatewayError('GW_ERR_BAD_REQUEST', flaw);
  const now = input.now ?? new Date();
  const id = randomBytes(6).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const record: TokenRecord = {
    id,
    role: input.role,
    scope: formatScope(scope),
    name: input.name ?? '',
    createdAt: now.toISOString(),
    createdBy: input.createdBy,
    expiresAt: new Date(now.getTime() + input.lifetimeMs).toISOString(),
    revokedAt: null,
    permissions,
  };
  return { token: `gwt_${id}_${secret}`, record, secretHash: hashSecret(secret) };
}

/** The id to look up and the hash of the presented secret; a malformed token is refused here. */
export function presentedToken(token: string): { id: string; secretHash: Buffer } {
  const match = TOKEN_PATTERN.exec(token);
  if (!match) throw new GatewayError('GW_ERR_TOKEN_INVALID', 'malformed token');
  return { id: match[1]!, secretHash: hashSecret(match[2]!) };
}

/**
 * The holder, if the stored row (undefined: no such id) matches the presented hash and is active;
 * else GW_ERR_TOKEN_INVALID naming why. The reason goes to the audit log; it reveals nothing an
 * attacker can use.
 */
export function holderOf(
  stored: { secretHash: Buffer; record: TokenRecord } | undefined,
  presentedHash: Buffer,
  now: Date,
): AuthenticatedToken {
  if (
    !stored ||
    stored.secretHash.length !== presentedHash.length ||
    !timingSafeEqual(stored.secretHash, presentedHash)
  ) {
    throw new GatewayError('GW_ERR_TOKEN_INVALID', 'unknown token');
  }
  const { record } = stored;
  const status = statusOf(record, now);
  if (status !== 'active') {
    throw new GatewayError('GW_ERR_TOKEN_INVALID', `token ${record.id} is ${status}`);
  }
  return { ...record, parsedScope: parseScope(record.scope)! };
}
