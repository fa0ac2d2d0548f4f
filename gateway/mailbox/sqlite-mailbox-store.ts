/**
 * The embedded MailboxStore: one SQLite file (WAL), better-sqlite3.
 *
 * Writes go through group commit (gateway/db/sqlite-group-commit.ts): every write issued in the
 * same event-loop turn shares one transaction and one fsync, and each caller resolves only after
 * that commit is durable — as durable as one commit per write, without one fsync per pushed
 * message (issue 9: `recordPushed` was ~20 % of the gateway's CPU). With `sync: 'FULL'` the fsync
 * runs on the thread pool, not in the COMMIT on the event loop (gateway/db/wal-sync.ts). Reads run
 * at once. The WAL is checkpointed by a worker thread (gateway/db/wal-checkpointer.ts), not inside
 * those commits.
 */
import Database from 'better-sqlite3';
import { SqliteGroupCommit } from '../db/sqlite-group-commit.ts';
import { attachWalCheckpointer } from '../db/wal-checkpointer.ts';
import { type WalSync, walSyncFor } from '../db/wal-sync.ts';
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

interface TicketRow {
  ticket: number;
  not_before: string;
  settled_at: string | null;
}

interface CaseViewRow extends TicketRow {
  role: 'head' | 'own' | 'delivered';
}

const TICKET_COLUMNS = 'ticket, not_before, settled_at';
/** The case's lowest pending ticket; the first half of a case view. */
const CASE_HEAD = `SELECT * FROM (SELECT 'head' AS role, ${TICKET_COLUMNS} FROM case_tickets
  WHERE system_id = ? AND case_key = ? AND settled_at IS NULL ORDER BY ticket LIMIT 1)`;
/** The ledger row of a messageId (wasDelivered) as a third part of a case view; NULL asks for none. */
const CASE_DELIVERED = `UNION ALL SELECT 'delivered' AS role, 0, '', NULL FROM delivered
  WHERE system_id = ? AND message_id = ?`;

function toCaseTicket(row: TicketRow): CaseTicket {
  return { ticket: row.ticket, notBefore: row.not_before };
}

export class SqliteMailboxStore implements MailboxStore {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly writes: SqliteGroupCommit;
  /** Undefined with `sync: 'NORMAL'`: commits are not synced at all. */
  private readonly walSync: WalSync | undefined;
  private readonly stmts;
  private readonly detachCheckpointer: () => Promise<void>;
  private lastPrune = 0;

  constructor(options: { file: string; sync?: 'FULL' | 'NORMAL' }) {
    this.db = new Database(options.file);
    this.db.pragma('journal_mode = WAL');
    this.walSync = walSyncFor(this.db, options.file, options.sync ?? 'FULL');
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
        created_at TEXT NOT NULL, acked_at TEXT, leased_until TEXT,
        UNIQUE (system_id, message_id));
      CREATE INDEX IF NOT EXISTS inbox_pending ON inbox (system_id, seq) WHERE acked_at IS NULL;
      -- Per-case delivery order (issue 8). AUTOINCREMENT: ticket numbers are never reused.
      CREATE TABLE IF NOT EXISTS case_tickets (
        ticket INTEGER PRIMARY KEY AUTOINCREMENT,
        system_id TEXT NOT NULL, case_key TEXT NOT NULL, source TEXT NOT NULL, message_id TEXT NOT NULL,
        not_before TEXT NOT NULL, taken_at TEXT NOT NULL, settled_at TEXT, outcome TEXT,
        UNIQUE (system_id, source));
      CREATE INDEX IF NOT EXISTS case_tickets_pending ON case_tickets (system_id, case_key, ticket)
        WHERE settled_at IS NULL;
      CREATE INDEX IF NOT EXISTS case_tickets_settled ON case_tickets (settled_at) WHERE settled_at IS NOT NULL;
    `);
    // Files made before the inbox lease (visibility timeout) get its column.
    const columns = this.db.prepare('SELECT name FROM pragma_table_info(?)').all('inbox') as {
      name: string;
    }[];
    if (!columns.some((c) => c.name === 'leased_until')) {
      this.db.exec('ALTER TABLE inbox ADD COLUMN leased_until TEXT');
    }
    // The acks whose `acknowledged` audit entry is not confirmed (gateway/mailbox/ack-audit-sweep.ts):
    // a narrow row made with the ack and deleted by its mark, rather than a column of the inbox row —
    // SQLite rewrites a whole row on UPDATE, and the mark would rewrite the document and body again.
    // Made and, for a file from before the sweep, filled with its acks (confirmed by the sweep once)
    // in one transaction: a crash between the two must not leave the table made and those acks out.
    this.db
      .transaction(() => {
        const made =
          this.db
            .prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'inbox_ack_unaudited'")
            .get() !== undefined;
        if (made) return;
        this.db.exec(`
          CREATE TABLE inbox_ack_unaudited (seq INTEGER PRIMARY KEY, acked_at TEXT NOT NULL, claimed_until TEXT);
          CREATE INDEX inbox_ack_unaudited_by_ack ON inbox_ack_unaudited (acked_at);
          INSERT INTO inbox_ack_unaudited (seq, acked_at) SELECT seq, acked_at FROM inbox WHERE acked_at IS NOT NULL;
        `);
      })
      .immediate();
    this.writes = new SqliteGroupCommit(this.db, this.walSync);
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
        `SELECT * FROM inbox WHERE system_id = ? AND acked_at IS NULL AND seq > ?
         AND (leased_until IS NULL OR leased_until <= ?) ORDER BY seq LIMIT ?`,
      ),
      lease: this.db.prepare(
        'UPDATE inbox SET leased_until = ? WHERE system_id = ? AND message_id = ? AND acked_at IS NULL',
      ),
      get: this.db.prepare('SELECT * FROM inbox WHERE system_id = ? AND message_id = ?'),
      ack: this.db.prepare(
        'UPDATE inbox SET acked_at = ? WHERE system_id = ? AND message_id = ? AND acked_at IS NULL',
      ),
      noteUnaudited: this.db.prepare(
        'INSERT OR IGNORE INTO inbox_ack_unaudited (seq, acked_at) VALUES (?, ?)',
      ),
      markAckAudited: this.db.prepare(
        'DELETE FROM inbox_ack_unaudited WHERE seq = (SELECT seq FROM inbox WHERE system_id = ? AND message_id = ?)',
      ),
      claimUnauditedAcks: this.db.prepare<
        [string, string, string, number],
        { seq: number; acked_at: string }
      >(
        `UPDATE inbox_ack_unaudited SET claimed_until = ? WHERE seq IN (
           SELECT seq FROM inbox_ack_unaudited WHERE acked_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)
           ORDER BY acked_at LIMIT ?)
         RETURNING seq, acked_at`,
      ),
      bySeq: this.db.prepare<[number], InboxRow>('SELECT * FROM inbox WHERE seq = ?'),
      // One statement for both looks: every statement outside a transaction is a read transaction of
      // its own (file locks: syscalls), and a case view is asked for each delivered record.
      caseViewBySource: this.db.prepare<[string, string, string, string, string, string | null], CaseViewRow>(
        `${CASE_HEAD} UNION ALL SELECT 'own' AS role, ${TICKET_COLUMNS} FROM case_tickets
         WHERE system_id = ? AND source = ? ${CASE_DELIVERED}`,
      ),
      caseViewByNumber: this.db.prepare<[string, string, number, string, string | null], CaseViewRow>(
        `${CASE_HEAD} UNION ALL SELECT 'own' AS role, ${TICKET_COLUMNS} FROM case_tickets WHERE ticket = ?
         ${CASE_DELIVERED}`,
      ),
      ticketBySource: this.db.prepare<[string, string], TicketRow>(
        `SELECT ${TICKET_COLUMNS} FROM case_tickets WHERE system_id = ? AND source = ?`,
      ),
      takeTicket: this.db.prepare(
        `INSERT OR IGNORE INTO case_tickets (system_id, case_key, source, message_id, not_before, taken_at)
         VALUES (@systemId, @caseKey, @source, @messageId, @notBefore, @takenAt)`,
      ),
      reschedule: this.db.prepare(
        'UPDATE case_tickets SET not_before = ? WHERE ticket = ? AND settled_at IS NULL',
      ),
      settle: this.db.prepare(
        'UPDATE case_tickets SET settled_at = ?, outcome = ? WHERE ticket = ? AND settled_at IS NULL',
      ),
      prune: this.db.prepare('DELETE FROM case_tickets WHERE settled_at IS NOT NULL AND settled_at < ?'),
    };
    this.detachCheckpointer = attachWalCheckpointer(options.file, [this.db]);
  }

  putIfNew(item: InboxItem): Promise<boolean> {
    // The ledger row and the inbox row commit together: a crash leaves both or neither.
    return this.writes.run(() => {
      const fresh =
        this.stmts.markDelivered.run(item.systemId, item.messageId, 'pull', item.createdAt).changes === 1;
      if (fresh) this.stmts.insertInbox.run(item);
      return fresh;
    });
  }

  recordPushed(systemId: string, messageId: string): Promise<boolean> {
    const at = new Date().toISOString();
    return this.writes.run(() => this.stmts.markDelivered.run(systemId, messageId, 'push', at).changes === 1);
  }

  async wasDelivered(systemId: string, messageId: string): Promise<boolean> {
    return this.stmts.wasDelivered.get(systemId, messageId) !== undefined;
  }

  async list(
    systemId: string,
    options: { limit: number; after?: string; visibleAt?: string },
  ): Promise<InboxPage> {
    const after = options.after ? Number.parseInt(options.after, 10) || 0 : 0;
    const visibleAt = options.visibleAt ?? new Date().toISOString();
    const rows = this.stmts.list.all(systemId, after, visibleAt, options.limit + 1) as InboxRow[];
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

  lease(
    systemId: string,
    messageId: string,
    leasedUntil: string,
  ): Promise<{ item: InboxItem; leased: boolean } | undefined> {
    return this.writes.run(() => {
      const leased = this.stmts.lease.run(leasedUntil, systemId, messageId).changes === 1;
      const row = this.stmts.get.get(systemId, messageId) as InboxRow | undefined;
      return row && { item: toInboxItem(row), leased };
    });
  }

  ack(systemId: string, messageId: string): Promise<InboxItem | 'already' | undefined> {
    const at = new Date().toISOString();
    return this.writes.run(() => {
      const row = this.stmts.get.get(systemId, messageId) as InboxRow | undefined;
      if (!row) return undefined;
      const changed = this.stmts.ack.run(at, systemId, messageId).changes === 1;
      if (changed) this.stmts.noteUnaudited.run(row.seq, at);
      return changed ? toInboxItem(row) : 'already';
    });
  }

  async markAcksAudited(items: readonly AckedItemKey[]): Promise<void> {
    if (items.length === 0) return;
    await this.writes.run(() => {
      for (const item of items) this.stmts.markAckAudited.run(item.systemId, item.messageId);
    });
  }

  async claimUnauditedAcks(options: ClaimUnauditedAcks): Promise<InboxItem[]> {
    const rows = await this.writes.run(() =>
      this.stmts.claimUnauditedAcks
        .all(options.claimUntil, options.ackedBefore, options.now, options.limit)
        .map((claim) => ({ ...this.stmts.bySeq.get(claim.seq)!, acked_at: claim.acked_at })),
    );
    return rows.sort(byAckThenSeq).map(toInboxItem);
  }

  async caseView(systemId: string, caseKey: string, own: CaseViewOptions): Promise<CaseView> {
    const asked = own.delivered ?? null;
    const rows =
      'source' in own
        ? this.stmts.caseViewBySource.all(systemId, caseKey, systemId, own.source, systemId, asked)
        : this.stmts.caseViewByNumber.all(systemId, caseKey, own.ticket, systemId, asked);
    const head = rows.find((r) => r.role === 'head');
    const mine = rows.find((r) => r.role === 'own');
    return {
      ...(head ? { head: toCaseTicket(head) } : {}),
      ...(mine ? { own: { ...toCaseTicket(mine), done: mine.settled_at !== null } } : {}),
      ...(asked !== null ? { delivered: rows.some((r) => r.role === 'delivered') } : {}),
    };
  }

  takeTicket(take: TakeTicket): Promise<CaseTicket> {
    const takenAt = new Date().toISOString();
    return this.writes.run(() => {
      this.stmts.takeTicket.run({ ...take, takenAt });
      return toCaseTicket(this.stmts.ticketBySource.get(take.systemId, take.source)!);
    });
  }

  async rescheduleTicket(ticket: number, notBefore: string): Promise<void> {
    await this.writes.run(() => this.stmts.reschedule.run(notBefore, ticket));
  }

  async settleTicket(ticket: number, outcome: 'delivered' | 'dead-lettered'): Promise<void> {
    const now = Date.now();
    const prune = shouldPrune(this.lastPrune, now);
    if (prune) this.lastPrune = now;
    await this.writes.run(() => {
      this.stmts.settle.run(new Date(now).toISOString(), outcome, ticket);
      if (prune) this.stmts.prune.run(new Date(now - SETTLED_TICKET_RETENTION_MS).toISOString());
    });
  }

  async close(): Promise<void> {
    // Writes already accepted commit, and are synced, before the file closes.
    this.writes.flush();
    await this.walSync?.close();
    await this.detachCheckpointer();
    this.db.close();
  }
}
