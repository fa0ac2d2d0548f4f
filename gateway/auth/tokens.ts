/**
 * Bearer tokens for people (auditors, operators), kept in <dataDir>/auth.sqlite.
 *
 * A token is `gwt_<id>_<secret>`: the id (12 hex digits) names it in lists, logs and the audit
 * trail; the secret (32 random bytes, base64url) is shown once at issuance and stored only as its
 * SHA-256. A fast hash is right here: the secret has 256 bits of entropy, so there is nothing to
 * brute-force — slow hashes (scrypt) exist for low-entropy passwords. Comparison is constant-time.
 *
 * Every check reads the row (an indexed lookup, microseconds), so a revocation or expiry takes
 * effect on the very next request, in every process sharing the data directory (SQLite WAL).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { GatewayError } from '../errors/catalogue.ts';
import {
  formatScope,
  PERMISSIONS,
  type Permission,
  type PersonRole,
  parseScope,
  type Scope,
} from './roles.ts';

export const TOKENS_FILE = 'auth.sqlite';
const TOKEN_PATTERN = /^gwt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
const MAX_LIFETIME_MS = 366 * 24 * 60 * 60 * 1000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tokens (
  id          TEXT PRIMARY KEY,
  secret_hash BLOB NOT NULL,
  role        TEXT NOT NULL CHECK (role IN ('auditor', 'operator')),
  scope       TEXT NOT NULL,
  name        TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  created_by  TEXT NOT NULL,
  expires_at  TEXT NOT NULL,
  revoked_at  TEXT,
  permissions TEXT NOT NULL DEFAULT ''
) STRICT;
`;

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

interface Row extends Omit<TokenRecord, 'permissions'> {
  secretHash: Buffer;
  /** Comma-separated. */
  permissions: string;
}

function recordOf(row: Omit<Row, 'secretHash'> & { secretHash?: Buffer }): TokenRecord {
  const { secretHash: _hash, permissions, ...rest } = row;
  return { ...rest, permissions: permissions === '' ? [] : (permissions.split(',') as Permission[]) };
}

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

export class TokenStore {
  private readonly db: Database.Database;
  private readonly byId: Database.Statement<[string], Row>;

  constructor(file: string) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.db = new Database(file);
    // Hashes only, but still nobody else's business; SQLite gives -wal/-shm the same mode.
    chmodSync(file, 0o600);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    // Files from before permissions existed: their tokens have none.
    const columns = this.db.prepare('PRAGMA table_info(tokens)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'permissions')) {
      this.db.exec("ALTER TABLE tokens ADD COLUMN permissions TEXT NOT NULL DEFAULT ''");
    }
    this.byId = this.db.prepare(
      `SELECT id, secret_hash AS secretHash, role, scope, name, created_at AS createdAt,
              created_by AS createdBy, expires_at AS expiresAt, revoked_at AS revokedAt, permissions
         FROM tokens WHERE id = ?`,
    );
  }

  static inDataDir(dataDir: string): TokenStore {
    return new TokenStore(path.join(dataDir, TOKENS_FILE));
  }

  /** Creates a token; the returned `token` string is the only time the secret exists outside a hash. */
  issue(input: IssueTokenInput): { token: string; record: TokenRecord } {
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
    this.db
      .prepare(
        `INSERT INTO tokens (id, secret_hash, role, scope, name, created_at, created_by, expires_at, permissions)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        id,
        hashSecret(secret),
        record.role,
        record.scope,
        record.name,
        record.createdAt,
        record.createdBy,
        record.expiresAt,
        permissions.join(','),
      );
    return { token: `gwt_${id}_${secret}`, record };
  }

  /**
   * The token's holder, or a GatewayError GW_ERR_TOKEN_INVALID naming why (unknown, expired,
   * revoked). The reason goes to the audit log; it reveals nothing an attacker can use.
   */
  authenticate(token: string, now = new Date()): TokenRecord & { parsedScope: Scope } {
    const match = TOKEN_PATTERN.exec(token);
    if (!match) throw new GatewayError('GW_ERR_TOKEN_INVALID', 'malformed token');
    const row = this.byId.get(match[1]!);
    const presented = hashSecret(match[2]!);
    if (!row || !timingSafeEqual(row.secretHash, presented)) {
      throw new GatewayError('GW_ERR_TOKEN_INVALID', 'unknown token');
    }
    const record = recordOf(row);
    if (statusOf(record, now) !== 'active') {
      throw new GatewayError('GW_ERR_TOKEN_INVALID', `token ${row.id} is ${statusOf(record, now)}`);
    }
    return { ...record, parsedScope: parseScope(record.scope)! };
  }

  /** Marks a token revoked. Returns the record, or undefined when no token has this id. */
  revoke(id: string, now = new Date()): { record: TokenRecord; changed: boolean } | undefined {
    const changed = this.db
      .prepare('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL')
      .run(now.toISOString(), id).changes;
    const row = this.byId.get(id);
    if (!row) return undefined;
    return { record: recordOf(row), changed: changed > 0 };
  }

  list(): TokenRecord[] {
    return (
      this.db
        .prepare(
          `SELECT id, role, scope, name, created_at AS createdAt, created_by AS createdBy,
                expires_at AS expiresAt, revoked_at AS revokedAt, permissions
           FROM tokens ORDER BY created_at, id`,
        )
        .all() as Omit<Row, 'secretHash'>[]
    ).map(recordOf);
  }

  close(): void {
    this.db.close();
  }
}
