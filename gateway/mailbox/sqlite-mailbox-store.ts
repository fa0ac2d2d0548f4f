import Database from 'better-sqlite3';
import type { InboxItem, InboxPage, MailboxStore } from '../ports/mailbox-store.ts';
import { type InboxRow, toInboxItem } from './inbox-row.ts';

export class SqliteMailboxStore implements MailboxStore {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly stmts;

  constructor(options: { file: string; sync?: 'FULL' | 'NORMAL' }) {
    this.db = new Database(options.file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.sync ?? 'FULL'}`);
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS delivered (
        system_id TEXT NOT NULL, message_id TEXT NOT NULL, mode TEXT NOT NULL, delivered_at TEXT NOT NULL,
        PRIMARY KEY (system_id, message_id)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS inbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        system_id TEXT NOT NULL, message_id TEXT NOT NULL, message_type TEXT NOT NULL,
        sender_authority TEXT NOT NULL, receiver_authority TEXT NOT NULL, sender_system TEXT NOT NULL,
        digest TEXT NOT NULL, signed_document TEXT NOT NULL,
        native_content_type TEXT NOT NULL, native_body BLOB NOT NULL,
        created_at TEXT NOT NULL, acked_at TEXT,
        UNIQUE (system_id, message_id));
      CREATE INDEX IF NOT EXISTS inbox_pending ON inbox (system_id, seq) WHERE acked_at IS NULL;
    `);
    this.stmts = {
      markDelivered: this.db.prepare(
        'INSERT OR IGNORE INTO delivered (system_id, message_id, mode, delivered_at) VALUES (?, ?, ?, ?)',
      ),
      wasDelivered: this.db.prepare('SELECT 1 FROM delivered WHERE system_id = ? AND message_id = ?'),
      insertInbox: this.db.prepare(`INSERT INTO inbox (system_id, message_id, message_type, sender_authority,
        receiver_authority, sender_system, digest, signed_document, native_content_type, native_body, created_at)
        VALUES (@systemId, @messageId, @messageType, @senderAuthority, @receiverAuthority, @senderSystem, @digest,
        @signedDocument, @nativeContentType, @nativeBody, @createdAt)`),
      list: this.db.prepare(
        'SELECT * FROM inbox WHERE system_id = ? AND acked_at IS NULL AND seq > ? ORDER BY seq LIMIT ?',
      ),
      get: this.db.prepare('SELECT * FROM inbox WHERE system_id = ? AND message_id = ?'),
      ack: this.db.prepare(
        'UPDATE inbox SET acked_at = ? WHERE system_id = ? AND message_id = ? AND acked_at IS NULL',
      ),
    };
  }

  async putIfNew(item: InboxItem): Promise<boolean> {
    // The ledger row and the inbox row commit together: a crash leaves both or neither.
    return this.db.transaction(() => {
      const fresh =
        this.stmts.markDelivered.run(item.systemId, item.messageId, 'pull', item.createdAt).changes === 1;
      if (fresh) this.stmts.insertInbox.run(item);
      return fresh;
    })();
  }

  async recordPushed(systemId: string, messageId: string): Promise<boolean> {
    return this.stmts.markDelivered.run(systemId, messageId, 'push', new Date().toISOString()).changes === 1;
  }

  async wasDelivered(systemId: string, messageId: string): Promise<boolean> {
    return this.stmts.wasDelivered.get(systemId, messageId) !== undefined;
  }

  async list(systemId: string, options: { limit: number; after?: string }): Promise<InboxPage> {
    const after = options.after ? Number.parseInt(options.after, 10) || 0 : 0;
    const rows = this.stmts.list.all(systemId, after, options.limit + 1) as InboxRow[];
    const page = rows.slice(0, options.limit);
    return {
      items: page.map(toInboxItem),
      next: rows.length > options.limit ? String(page.at(-1)!.seq) : undefined,
    };
  }

  async get(systemId: string, messageId: string): Promise<InboxItem | undefined> {
    const row = this.stmts.get.get(systemId, messageId) as InboxRow | undefined;
    return row && toInboxItem(row);
  }

  async ack(systemId: string, messageId: string): Promise<InboxItem | 'already' | undefined> {
    const row = this.stmts.get.get(systemId, messageId) as
      | (InboxRow & { acked_at: string | null })
      | undefined;
    if (!row) return undefined;
    const changed = this.stmts.ack.run(new Date().toISOString(), systemId, messageId).changes === 1;
    return changed ? toInboxItem(row) : 'already';
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
