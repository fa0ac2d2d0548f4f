/**
 * The MailboxStore in PostgreSQL (deploy/sql/002_mailbox.sql), so that N gateway processes share
 * one delivery ledger: whichever process delivers a nachrichtenUUID first wins, every other one
 * sees it delivered (INSERT … ON CONFLICT DO NOTHING on the ledger's primary key decides, inside the
 * transaction that also fills the inbox, so a crash leaves both rows or neither).
 */
import type pg from 'pg';
import { openStorePool } from '../db/migrate.ts';
import { inTransaction } from '../db/postgres.ts';
import type {
  AckedItemKey,
  CaseTicket,
  CaseView,
  CaseViewOptions,
  ClaimUnauditedAcks,
  InboxItem,
  InboxPage,
  MailboxStore,
  TakeTicket,
} from '../ports/mailbox-store.ts';
import { SETTLED_TICKET_RETENTION_MS, shouldPrune } from './case-ticket-retention.ts';
import { byAckThenSeq, type InboxRow, toInboxItem } from './inbox-row.ts';

export interface PgMailboxStoreOptions {
  url: string;
  schema?: string | undefined;
  /** Apply pending migrations on connect (default true). */
  migrate?: boolean;
  poolSize?: number;
}

interface TicketRow {
  ticket: number;
  not_before: string;
  settled_at: string | null;
  /** Case-view rows: false for the head, true for the asked-for ticket, null for a ledger row. */
  own: boolean | null;
}

function toCaseTicket(row: TicketRow): CaseTicket {
  return { ticket: row.ticket, notBefore: row.not_before };
}

const ITEM_COLUMNS = `seq, system_id, message_id, message_type, sender_authority, receiver_authority, sender_system,
  digest, signed_document, native_content_type, native_body, created_at`;

export class PgMailboxStore implements MailboxStore {
  readonly kind = 'postgres';

  private lastPrune = 0;

  private constructor(private readonly pool: pg.Pool) {}

  static async connect(options: PgMailboxStoreOptions): Promise<PgMailboxStore> {
    const pool = await openStorePool({
      url: options.url,
      schema: options.schema,
      max: options.poolSize ?? 4,
      applicationName: 'laender-gateway mailbox',
      migrate: options.migrate,
      table: 'mailbox_inbox',
    });
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

  async list(
    systemId: string,
    options: { limit: number; after?: string; visibleAt?: string },
  ): Promise<InboxPage> {
    const after = options.after ? Number.parseInt(options.after, 10) || 0 : 0;
    const visibleAt = options.visibleAt ?? new Date().toISOString();
    const rows = (
      await this.pool.query<InboxRow>({
        name: 'mailbox-list-visible',
        text: `SELECT ${ITEM_COLUMNS} FROM mailbox_inbox WHERE system_id = $1 AND acked_at IS NULL AND seq > $2
               AND (leased_until IS NULL OR leased_until <= $3) ORDER BY seq LIMIT $4`,
        values: [systemId, after, visibleAt, options.limit + 1],
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

  async lease(
    systemId: string,
    messageId: string,
    leasedUntil: string,
  ): Promise<{ item: InboxItem; leased: boolean } | undefined> {
    const row = (
      await this.pool.query<InboxRow & { leased: boolean }>({
        name: 'mailbox-lease',
        text: `UPDATE mailbox_inbox SET leased_until = CASE WHEN acked_at IS NULL THEN $3 ELSE leased_until END
               WHERE system_id = $1 AND message_id = $2 RETURNING ${ITEM_COLUMNS}, acked_at IS NULL AS leased`,
        values: [systemId, messageId, leasedUntil],
      })
    ).rows[0];
    return row && { item: toInboxItem(row), leased: row.leased };
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

  async markAcksAudited(items: readonly AckedItemKey[]): Promise<void> {
    if (items.length === 0) return;
    // Only rows without the mark: a row rewritten for nothing is a dead tuple for nothing.
    await this.pool.query({
      name: 'mailbox-mark-acks-audited',
      text: `UPDATE mailbox_inbox AS i SET ack_audited_at = $3
             FROM unnest($1::text[], $2::text[]) AS k (system_id, message_id)
             WHERE i.system_id = k.system_id AND i.message_id = k.message_id
               AND i.acked_at IS NOT NULL AND i.ack_audited_at IS NULL`,
      values: [items.map((i) => i.systemId), items.map((i) => i.messageId), new Date().toISOString()],
    });
  }

  async claimUnauditedAcks(options: ClaimUnauditedAcks): Promise<InboxItem[]> {
    // SKIP LOCKED: a replica claiming at the same moment takes other rows instead of waiting for
    // these and then finding them claimed.
    const rows = (
      await this.pool.query<InboxRow>({
        name: 'mailbox-claim-unaudited-acks',
        text: `UPDATE mailbox_inbox SET ack_audit_claimed_until = $3
               WHERE seq IN (
                 SELECT seq FROM mailbox_inbox
                 WHERE acked_at IS NOT NULL AND ack_audited_at IS NULL AND acked_at <= $1
                   AND (ack_audit_claimed_until IS NULL OR ack_audit_claimed_until <= $2)
                 ORDER BY acked_at LIMIT $4
                 FOR UPDATE SKIP LOCKED)
               RETURNING ${ITEM_COLUMNS}, acked_at`,
        values: [options.ackedBefore, options.now, options.claimUntil, options.limit],
      })
    ).rows as (InboxRow & { acked_at: string })[];
    return rows.sort(byAckThenSeq).map(toInboxItem);
  }

  async caseView(systemId: string, caseKey: string, own: CaseViewOptions): Promise<CaseView> {
    // One round trip: the head (own = false), the asked-for ticket (own = true) and, when asked,
    // the ledger row of a messageId (own = NULL; a NULL $4 matches none).
    const bySource = 'source' in own;
    const asked = own.delivered ?? null;
    const rows = (
      await this.pool.query<TicketRow>({
        name: bySource ? 'mailbox-case-view-source-ledger' : 'mailbox-case-view-ticket-ledger',
        text: `(SELECT ticket, not_before, settled_at, false AS own FROM mailbox_case_tickets
                 WHERE system_id = $1 AND case_key = $2 AND settled_at IS NULL ORDER BY ticket LIMIT 1)
               UNION ALL
               (SELECT ticket, not_before, settled_at, true AS own FROM mailbox_case_tickets
                 WHERE ${bySource ? 'system_id = $1 AND source = $3' : 'ticket = $3::bigint'})
               UNION ALL
               (SELECT NULL, NULL, NULL, NULL FROM mailbox_delivered
                 WHERE system_id = $1 AND message_id = $4::text)`,
        values: [systemId, caseKey, bySource ? own.source : String(own.ticket), asked],
      })
    ).rows;
    const head = rows.find((r) => r.own === false);
    const mine = rows.find((r) => r.own === true);
    return {
      ...(head ? { head: toCaseTicket(head) } : {}),
      ...(mine ? { own: { ...toCaseTicket(mine), done: mine.settled_at !== null } } : {}),
      ...(asked !== null ? { delivered: rows.some((r) => r.own === null) } : {}),
    };
  }

  async takeTicket(take: TakeTicket): Promise<CaseTicket> {
    // The no-op update on conflict makes RETURNING yield the row that already holds the source.
    const row = (
      await this.pool.query<TicketRow>({
        name: 'mailbox-take-ticket',
        text: `INSERT INTO mailbox_case_tickets (system_id, case_key, source, message_id, not_before, taken_at)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (system_id, source) DO UPDATE SET source = EXCLUDED.source
               RETURNING ticket, not_before, settled_at, true AS own`,
        values: [
          take.systemId,
          take.caseKey,
          take.source,
          take.messageId,
          take.notBefore,
          new Date().toISOString(),
        ],
      })
    ).rows[0]!;
    return toCaseTicket(row);
  }

  async rescheduleTicket(ticket: number, notBefore: string): Promise<void> {
    await this.pool.query({
      name: 'mailbox-reschedule-ticket',
      text: 'UPDATE mailbox_case_tickets SET not_before = $2 WHERE ticket = $1 AND settled_at IS NULL',
      values: [ticket, notBefore],
    });
  }

  async settleTicket(ticket: number, outcome: 'delivered' | 'dead-lettered'): Promise<void> {
    const now = Date.now();
    await this.pool.query({
      name: 'mailbox-settle-ticket',
      text: `UPDATE mailbox_case_tickets SET settled_at = $2, outcome = $3
             WHERE ticket = $1 AND settled_at IS NULL`,
      values: [ticket, new Date(now).toISOString(), outcome],
    });
    if (shouldPrune(this.lastPrune, now)) {
      this.lastPrune = now;
      await this.pool.query({
        name: 'mailbox-prune-tickets',
        text: 'DELETE FROM mailbox_case_tickets WHERE settled_at IS NOT NULL AND settled_at < $1',
        values: [new Date(now - SETTLED_TICKET_RETENTION_MS).toISOString()],
      });
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
