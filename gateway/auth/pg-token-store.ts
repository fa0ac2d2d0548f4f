/**
 * The bearer tokens in PostgreSQL (deploy/sql/013_tokens.sql), shared by every replica and by
 * `gw token` run in any of them. A check is one prepared primary-key lookup per request and its
 * answer is never kept: a revocation or expiry written by any replica refuses the next request at
 * all of them. Expiry is judged by the checking process's clock, as in the SQLite store.
 */
import type pg from 'pg';
import { openStorePool } from '../db/migrate.ts';
import { textArrayLiteral } from '../db/postgres.ts';
import type {
  AuthenticatedToken,
  ImportResult,
  IssueTokenInput,
  StoredToken,
  TokenRecord,
  TokenStore,
} from '../ports/token-store.ts';
import type { Permission, PersonRole } from './roles.ts';
import { checkStoredToken } from './token-import.ts';
import { holderOf, mintToken, presentedToken } from './tokens.ts';

export interface PgTokenStoreOptions {
  url: string;
  schema?: string | undefined;
  /** Apply pending migrations on connect (default true). */
  migrate?: boolean;
}

interface Row {
  id: string;
  secret_hash: Buffer;
  role: PersonRole;
  scope: string;
  name: string;
  created_at: string;
  created_by: string;
  expires_at: string;
  revoked_at: string | null;
  permissions: Permission[];
}

const COLUMNS = 'id, role, scope, name, created_at, created_by, expires_at, revoked_at, permissions';

function recordOf(row: Omit<Row, 'secret_hash'>): TokenRecord {
  return {
    id: row.id,
    role: row.role,
    scope: row.scope,
    name: row.name,
    createdAt: row.created_at,
    createdBy: row.created_by,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    permissions: row.permissions,
  };
}

function storedOf(row: Row): StoredToken {
  return { record: recordOf(row), secretHash: row.secret_hash };
}

export class PgTokenStore implements TokenStore {
  readonly kind = 'postgres';

  private constructor(private readonly pool: pg.Pool) {}

  static async connect(options: PgTokenStoreOptions): Promise<PgTokenStore> {
    // A few connections: every request with a bearer token reads one row.
    const pool = await openStorePool({
      url: options.url,
      schema: options.schema,
      max: 4,
      applicationName: 'laender-gateway tokens',
      migrate: options.migrate,
      table: 'auth_token',
    });
    return new PgTokenStore(pool);
  }

  async issue(input: IssueTokenInput): Promise<{ token: string; record: TokenRecord }> {
    const { token, record, secretHash } = mintToken(input);
    await this.pool.query({
      name: 'auth-token-issue',
      text: `INSERT INTO auth_token (id, secret_hash, role, scope, name, created_at, created_by, expires_at, permissions)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text[])`,
      values: [
        record.id,
        secretHash,
        record.role,
        record.scope,
        record.name,
        record.createdAt,
        record.createdBy,
        record.expiresAt,
        textArrayLiteral(record.permissions),
      ],
    });
    return { token, record };
  }

  async authenticate(token: string, now = new Date()): Promise<AuthenticatedToken> {
    const presented = presentedToken(token);
    const { rows } = await this.pool.query<Row>({
      name: 'auth-token-by-id',
      text: `SELECT secret_hash, ${COLUMNS} FROM auth_token WHERE id = $1`,
      values: [presented.id],
    });
    const row = rows[0];
    return holderOf(row && { secretHash: row.secret_hash, record: recordOf(row) }, presented.secretHash, now);
  }

  async revoke(id: string, now = new Date()): Promise<{ record: TokenRecord; changed: boolean } | undefined> {
    const updated = await this.pool.query<Omit<Row, 'secret_hash'>>({
      name: 'auth-token-revoke',
      text: `UPDATE auth_token SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING ${COLUMNS}`,
      values: [id, now.toISOString()],
    });
    if (updated.rows[0]) return { record: recordOf(updated.rows[0]), changed: true };
    // A statement of its own: its snapshot sees a revocation that a concurrent call committed.
    const { rows } = await this.pool.query<Omit<Row, 'secret_hash'>>({
      name: 'auth-token-get',
      text: `SELECT ${COLUMNS} FROM auth_token WHERE id = $1`,
      values: [id],
    });
    return rows[0] && { record: recordOf(rows[0]), changed: false };
  }

  async list(): Promise<TokenRecord[]> {
    const { rows } = await this.pool.query<Omit<Row, 'secret_hash'>>(
      `SELECT ${COLUMNS} FROM auth_token ORDER BY created_at, id`,
    );
    return rows.map(recordOf);
  }

  async exportAll(): Promise<StoredToken[]> {
    const { rows } = await this.pool.query<Row>(
      `SELECT secret_hash, ${COLUMNS} FROM auth_token ORDER BY created_at, id`,
    );
    return rows.map(storedOf);
  }

  async importRecord(token: StoredToken): Promise<ImportResult> {
    checkStoredToken(token);
    const { record } = token;
    const inserted = await this.pool.query({
      name: 'auth-token-import',
      text: `INSERT INTO auth_token (id, secret_hash, role, scope, name, created_at, created_by, expires_at, revoked_at, permissions)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text[])
             ON CONFLICT (id) DO NOTHING`,
      values: [
        record.id,
        token.secretHash,
        record.role,
        record.scope,
        record.name,
        record.createdAt,
        record.createdBy,
        record.expiresAt,
        record.revokedAt,
        textArrayLiteral(record.permissions),
      ],
    });
    if (inserted.rowCount === 1) return { imported: true };
    // A statement of its own: its snapshot sees the row of a concurrent import that won the id.
    const { rows } = await this.pool.query<Row>({
      name: 'auth-token-stored',
      text: `SELECT secret_hash, ${COLUMNS} FROM auth_token WHERE id = $1`,
      values: [record.id],
    });
    // Tokens are never deleted, so the row that won the id is still there.
    return { imported: false, existing: storedOf(rows[0]!) };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
