/**
 * The bearer tokens in <dataDir>/auth.sqlite (the embedded default): every process on the data
 * directory shares the file (WAL), so a revocation by `gw token revoke` refuses the server's next
 * request. The statements are synchronous; the port's promises only carry their results.
 */
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { GatewayError } from '../errors/catalogue.ts';
import type {
  AuthenticatedToken,
  ImportResult,
  IssueTokenInput,
  StoredToken,
  TokenRecord,
  TokenStore,
} from '../ports/token-store.ts';
import type { Permission } from './roles.ts';
import { checkStoredToken } from './token-import.ts';
import { holderOf, mintToken, presentedToken, TOKENS_FILE } from './tokens.ts';

/**
 * The table as this version writes it. A scraper token is fixed to scope `*` and no permission
 * (roles.ts), checked here too so that no other writer can store a wider one.
 */
const TABLE = (name: string) => `
CREATE TABLE IF NOT EXISTS ${name} (
  id          TEXT PRIMARY KEY,
  secret_hash BLOB NOT NULL,
  role        TEXT NOT NULL CHECK (role IN ('auditor', 'operator', 'scraper')),
  scope       TEXT NOT NULL,
  name        TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  created_by  TEXT NOT NULL,
  expires_at  TEXT NOT NULL,
  revoked_at  TEXT,
  permissions TEXT NOT NULL DEFAULT '',
  CHECK (role <> 'scraper' OR (scope = '*' AND permissions = ''))
) STRICT;
`;

const COLUMN_LIST =
  'id, secret_hash, role, scope, name, created_at, created_by, expires_at, revoked_at, permissions';

interface Row extends Omit<TokenRecord, 'permissions'> {
  secretHash: Buffer;
  /** Comma-separated. */
  permissions: string;
}

function recordOf(row: Omit<Row, 'secretHash'> & { secretHash?: Buffer }): TokenRecord {
  const { secretHash: _hash, permissions, ...rest } = row;
  return { ...rest, permissions: permissions === '' ? [] : (permissions.split(',') as Permission[]) };
}

function storedOf(row: Row): StoredToken {
  return { record: recordOf(row), secretHash: row.secretHash };
}

const SELECT_STORED = `SELECT id, secret_hash AS secretHash, role, scope, name, created_at AS createdAt,
       created_by AS createdBy, expires_at AS expiresAt, revoked_at AS revokedAt, permissions
  FROM tokens`;

export class SqliteTokenStore implements TokenStore {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly byId: Database.Statement<[string], Row>;

  /** `existing`: the file must already be a token store (see openExisting); else it is created. */
  constructor(file: string, existing = false) {
    if (existing) this.db = SqliteTokenStore.existingTokenFile(file);
    else {
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      this.db = new Database(file);
    }
    // Hashes only, but still nobody else's business; SQLite gives -wal/-shm the same mode.
    chmodSync(file, 0o600);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(TABLE('tokens'));
    // Files from before permissions existed: their tokens have none.
    const columns = this.db.prepare('PRAGMA table_info(tokens)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'permissions')) {
      this.db.exec("ALTER TABLE tokens ADD COLUMN permissions TEXT NOT NULL DEFAULT ''");
    }
    // The source of an import is only read: its old CHECK refuses nothing it already holds.
    if (!existing) this.admitScrapers();
    this.byId = this.db.prepare(`${SELECT_STORED} WHERE id = ?`);
  }

  /**
   * Files from before the scraper role: SQLite cannot change a CHECK constraint, so the table is
   * rebuilt under the new one, rows copied as they are, in one IMMEDIATE transaction: a server and a
   * `gw token` opening the file at once rebuild it once, and a reader never sees it half done.
   */
  private admitScrapers(): void {
    const current = () =>
      (
        this.db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'tokens'").get() as {
          sql: string;
        }
      ).sql.includes("'scraper'");
    if (current()) return;
    this.db
      .transaction(() => {
        if (current()) return;
        this.db.exec(`DROP TABLE IF EXISTS tokens_rebuilt;
        ${TABLE('tokens_rebuilt')}
        INSERT INTO tokens_rebuilt (${COLUMN_LIST}) SELECT ${COLUMN_LIST} FROM tokens;
        DROP TABLE tokens;
        ALTER TABLE tokens_rebuilt RENAME TO tokens;`);
      })
      .immediate();
  }

  static inDataDir(dataDir: string): SqliteTokenStore {
    return new SqliteTokenStore(path.join(dataDir, TOKENS_FILE));
  }

  /**
   * An auth.sqlite that must already hold tokens: the source of `gw token import`. A mistyped path
   * or another database (audit.sqlite) is refused untouched, instead of becoming an empty store.
   */
  static openExisting(file: string): SqliteTokenStore {
    return new SqliteTokenStore(file, true);
  }

  private static existingTokenFile(file: string): Database.Database {
    if (!existsSync(file)) throw new GatewayError('GW_ERR_NOT_FOUND', `no token store at ${file}`);
    const db = new Database(file, { fileMustExist: true });
    const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tokens'").get();
    if (!table) {
      db.close();
      throw new GatewayError('GW_ERR_BAD_REQUEST', `${file} is not a token store (it has no tokens table)`);
    }
    return db;
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

  async exportAll(): Promise<StoredToken[]> {
    return (this.db.prepare(`${SELECT_STORED} ORDER BY created_at, id`).all() as Row[]).map(storedOf);
  }

  async importRecord(token: StoredToken): Promise<ImportResult> {
    checkStoredToken(token);
    const { record } = token;
    // ON CONFLICT, not INSERT OR IGNORE: that would also skip a row failing a CHECK, silently.
    const inserted = this.db
      .prepare(
        `INSERT INTO tokens (id, secret_hash, role, scope, name, created_at, created_by, expires_at, revoked_at, permissions)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      )
      .run(
        record.id,
        token.secretHash,
        record.role,
        record.scope,
        record.name,
        record.createdAt,
        record.createdBy,
        record.expiresAt,
        record.revokedAt,
        record.permissions.join(','),
      ).changes;
    if (inserted > 0) return { imported: true };
    // Tokens are never deleted, so the row that won the id is still there.
    return { imported: false, existing: storedOf(this.byId.get(record.id)!) };
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
