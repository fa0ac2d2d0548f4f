/**
 * The bearer tokens in <dataDir>/auth.sqlite (the embedded default): every process on the data
 * directory shares the file (WAL), so a revocation by `gw token revoke` refuses the server's next
 * request. The statements are synchronous; the port's promises only carry their results.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { AuthenticatedToken, IssueTokenInput, TokenRecord, TokenStore } from '../ports/token-store.ts';
import type { Permission } from './roles.ts';
import { holderOf, mintToken, presentedToken, TOKENS_FILE } from './tokens.ts';

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

interface Row extends Omit<TokenRecord, 'permissions'> {
  secretHash: Buffer;
  /** Comma-separated. */
  permissions: string;
}

function recordOf(row: Omit<Row, 'secretHash'> & { secretHash?: Buffer }): TokenRecord {
  const { secretHash: _hash, permissions, ...rest } = row;
  return { ...rest, permissions: permissions === '' ? [] : (permissions.split(',') as Permission[]) };
}

export class SqliteTokenStore implements TokenStore {
  readonly kind = 'sqlite';
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

  static inDataDir(dataDir: string): SqliteTokenStore {
    return new SqliteTokenStore(path.join(dataDir, TOKENS_FILE));
  }

  async issue(input: IssueTokenInput): Promise<{ token: string; record: TokenRecord }> {
    const { token, record, secretHash } = mintToken(input);
    this.db
      .prepare(
        `INSERT INTO tokens (id, secret_hash, role, scope, name, created_at, created_by, expires_at, permissions)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        record.id,
        secretHash,
        record.role,
        record.scope,
        record.name,
        record.createdAt,
        record.createdBy,
        record.expiresAt,
        record.permissions.join(','),
      );
    return { token, record };
  }

  async authenticate(token: string, now = new Date()): Promise<AuthenticatedToken> {
    const presented = presentedToken(token);
    const row = this.byId.get(presented.id);
    return holderOf(row && { secretHash: row.secretHash, record: recordOf(row) }, presented.secretHash, now);
  }

  async revoke(id: string, now = new Date()): Promise<{ record: TokenRecord; changed: boolean } | undefined> {
    const changed = this.db
      .prepare('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL')
      .run(now.toISOString(), id).changes;
    const row = this.byId.get(id);
    if (!row) return undefined;
    return { record: recordOf(row), changed: changed > 0 };
  }

  async list(): Promise<TokenRecord[]> {
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

  async close(): Promise<void> {
    this.db.close();
  }
}
