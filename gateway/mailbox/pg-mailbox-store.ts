/**
 * The MailboxStore in PostgreSQL (deploy/sql/002_mailbox.sql), so that N gateway processes share
 * one delivery ledger: whichever process delivers a nachrichtenUUID first wins, every other one
 * sees it delivered (INSERT … ON CONFLICT DO NOTHING on the ledger's primary key decides, inside the
 * transaction that also fills the inbox, so a crash leaves both rows or neither).
 */
import type pg from 'pg';
import { migrate } from '../db/migrate.ts';
import { createPgPool, inTransaction } from '../db/postgres.ts';
import type { InboxItem, InboxPage, MailboxStore } from '../ports/mailbox-store.ts';
import { type InboxRow, toInboxItem } from './inbox-row.ts';

export interface PgMailboxStoreOptions {
  url: string;
  schema?: string | undefined;
  /** Apply pending migrations on connect (default true). */
  migrate?: boolean;
  poolSize?: number;
}

const ITEM_COLUMNS = `seq, system_id, message_id, message_type, sender_authority, receiver_authority, sender_system,
  digest, signed_document, native_content_type, native_body, created_at`;

export class PgMailboxStore implements MailboxStore {
  readonly kind = 'postgres';

  private constructor(private readonly pool: pg.Pool) {}

  static async connect(options: PgMailboxStoreOptions): Promise<PgMailboxStore> {
    const pool = createPgPool({
      url: options.url,
      schema: options.schema,
      max: options.poolSize ?? 4,
      applicationName: 'laender-gateway mailbox',
    });
    try {
      if (options.migrate !== false) await migrate(pool, { schema: options.schema });
      else await pool.query('SELECT 1 FROM mailbox_inbox LIMIT 0');
    } catch (error) {
      await pool.end();
      throw error;
    }
    return new PgMailboxStore(pool);
  }

  async putIfNew(item: InboxItem): Promise<boolean> {
    return inTransaction(this.pool, async (client) => {
      const ledger = await client.query({
        name: 'mailbox-mark-pull',
        text: `INSERT INTO mailbox_delivered (system_id, message_id, mode, delivered_at) VALUES ($1, $2, 'pull', $3)
               ON CONFLICT DO NOTHING`,
        values: [item.systemId, item.messageId, item.createdAt],
      });
      if (ledger.rowCount !== 1) return false;
      await client.query({
        name: 'mailbox-insert',
        text: `INSERT INTO mailbox_inbox (system_id, message_id, message_type, sender_authority, receiver_authority,
                 sender_system, digest, signed_document, native_content_type, native_body, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        values: [
          item.systemId,
          item.messageId,
          item.messageType,
          item.senderAuthority,
          item.receiverAuthority,
          item.senderSystem,
          item.digest,
          item.signedDocument,
          item.nativeContentType,
          item.nativeBody,
          item.createdAt,
        ],
      });
      return true;
    });
  }

  async recordPushed(systemId: string, messageId: string): Promise<boolean> {
    const result = await this.pool.query({
      name: 'mailbox-mark-push',
      text: `INSERT INTO mailbox_delivered (system_id, message_id, mode, delivered_at) VALUES ($1, $2, 'push', $3)
             ON CONFLICT DO NOTHING`,
      values: [systemId, messageId, new Date().toISOString()],
    });
    return result.rowCount === 1;
  }

  async wasDelivered(systemId: string, messageId: string): Promise<boolean> {
    const result = await this.pool.query({
      name: 'mailbox-was-delivered',
      text: 'SELECT 1 FROM mailbox_delivered WHERE system_id = $1 AND message_id = $2',
      values: [systemId, messageId],
    });
    return result.rowCount === 1;
  }

  async list(systemId: string, options: { limit: number; after?: string }): Promise<InboxPage> {
    const after = options.after ? Number.parseInt(options.after, 10) || 0 : 0;
    const rows = (
      await this.pool.query<InboxRow>({
        name: 'mailbox-list',
        text: `SELECT ${ITEM_COLUMNS} FROM mailbox_inbox WHERE system_id = $1 AND acked_at IS NULL AND seq > $2
               ORDER BY seq LIMIT $3`,
        values: [systemId, after, options.limit + 1],
      })
    ).rows;
    const page = rows.slice(0, options.limit);
    return {
      items: page.map(toInboxItem),
      next: rows.length > options.limit ? String(page.at(-1)!.seq) : undefined,
    };
  }

  async get(systemId: string, messageId: string): Promise<InboxItem | undefined> {
    const row = (
      await this.pool.query<InboxRow>({
        name: 'mailbox-get',
        text: `SELECT ${ITEM_COLUMNS} FROM mailbox_inbox WHERE system_id = $1 AND message_id = $2`,
        values: [systemId, messageId],
      })
    ).rows[0];
    return row && toInboxItem(row);
  }

  async ack(systemId: string, messageId: string): Promise<InboxItem | 'already' | undefined> {
    const acked = (
      await this.pool.query<InboxRow>({
        name: 'mailbox-ack',
        text: `UPDATE mailbox_inbox SET acked_at = $3 WHERE system_id = $1 AND message_id = $2 AND acked_at IS NULL
               RETURNING ${ITEM_COLUMNS}`,
        values: [systemId, messageId, new Date().toISOString()],
      })
    ).rows[0];
    if (acked) return toInboxItem(acked);
    return (await this.get(systemId, messageId)) ? 'already' : undefined;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
