/**
 * The MailboxStore port: the delivery stage's memory. It holds the pull inboxes (like an OSCI
 * mailbox) and the per-receiver ledger of delivered nachrichtenUUIDs that makes delivery
 * effectively-once on top of an at-least-once bus. Not in DESIGN.md's port table; see the
 * closing note of issue 2 for why it is a port of its own rather than part of the audit log.
 */
export interface InboxItem {
  systemId: string;
  messageId: string;
  /** Catalogue id of the message type. */
  messageType: string;
  senderAuthority: string;
  receiverAuthority: string;
  senderSystem: string;
  /** Hex SHA-256 of the signed document (the audit log records the same digest). */
  digest: string;
  signedDocument: string;
  nativeContentType: string;
  nativeBody: Buffer;
  createdAt: string;
}

export interface InboxPage {
  items: InboxItem[];
  /** Opaque cursor for the next page, absent on the last page. */
  next?: string;
}

/**
 * Per-case delivery order (issue 8; gateway/pipeline/case-order.ts). A record of a case that cannot
 * be delivered now gets a ticket: a number, increasing in the order tickets are taken, unique across
 * all systems and cases (never reused, so a stale copy of a record can never pass for a newer one).
 * The case's head is its lowest pending ticket; only the head is attempted.
 */
export interface CaseTicket {
  ticket: number;
  /** ISO 8601: the ticket's record is not attempted before this time. */
  notBefore: string;
}

export interface CaseView {
  /** The case's lowest pending ticket, if any. */
  head?: CaseTicket;
  /** The ticket the asked-for record holds (by source or by number); `done` once it was settled. */
  own?: CaseTicket & { done: boolean };
  /** wasDelivered() of the asked-for `delivered` messageId, from the same look; absent if not asked. */
  delivered?: boolean;
}

/**
 * Which ticket a case view reports as `own` (a source or a ticket number), and optionally a messageId
 * whose ledger row to look up in the same read: delivery asks both for every record.
 */
export type CaseViewOptions = ({ source: string } | { ticket: number }) & { delivered?: string };

export interface TakeTicket {
  systemId: string;
  caseKey: string;
  /** Where the record came from, `<topic>/<partition>/<offset>`: taking again for it returns the same ticket. */
  source: string;
  messageId: string;
  notBefore: string;
}

export type AckedItemKey = Pick<InboxItem, 'systemId' | 'messageId'>;

/** MailboxStore.claimUnauditedAcks: all times ISO 8601. */
export interface ClaimUnauditedAcks {
  ackedBefore: string;
  now: string;
  claimUntil: string;
  limit: number;
}

export interface MailboxStore {
  readonly kind: string;
  /** Puts an item into the system's inbox unless that system already got this messageId. Returns false on a duplicate. */
  putIfNew(item: InboxItem): Promise<boolean>;
  /** Records a push delivery; false if this messageId was already delivered to the system. */
  recordPushed(systemId: string, messageId: string): Promise<boolean>;
  wasDelivered(systemId: string, messageId: string): Promise<boolean>;
  /**
   * Unacknowledged items, oldest first, without those leased at `visibleAt` (ISO 8601, default now):
   * a fetched, unacknowledged item is hidden until its lease ends, then listed again (like SQS).
   */
  list(systemId: string, options: { limit: number; after?: string; visibleAt?: string }): Promise<InboxPage>;
  get(systemId: string, messageId: string): Promise<InboxItem | undefined>;
  /**
   * get() for a receiver that fetches the item: unless it is acknowledged, it is leased until
   * `leasedUntil` (ISO 8601), replacing an earlier lease — a fetch during the lease extends it.
   * `leased` is false for an acknowledged item (it is never listed again); undefined if unknown.
   */
  lease(
    systemId: string,
    messageId: string,
    leasedUntil: string,
  ): Promise<{ item: InboxItem; leased: boolean } | undefined>;
  /** Acknowledges; returns the item the first time, 'already' on repeats, undefined if unknown. */
  ack(systemId: string, messageId: string): Promise<InboxItem | 'already' | undefined>;
  /**
   * The ack's `acknowledged` audit entry is known to be in the trail (written, or found there): the
   * ack audit sweep (gateway/mailbox/ack-audit-sweep.ts) passes these items by. Unknown and
   * unacknowledged items are left as they are; marking twice changes nothing.
   */
  markAcksAudited(items: readonly AckedItemKey[]): Promise<void>;
  /**
   * Acknowledged items not marked audited, acked at or before `ackedBefore`, oldest ack first, at
   * most `limit`, leaving out those claimed until after `now`; each one returned is claimed until
   * `claimUntil` (all ISO 8601). Instances sharing a storage (replicas) never get the same item
   * while its claim lasts, so they split the sweep between them; an item whose claimer gave up (or
   * died) is handed out again once its claim ends.
   */
  claimUnauditedAcks(options: ClaimUnauditedAcks): Promise<InboxItem[]>;
  /**
   * The case's head and the ticket of `own` (a source or a ticket number), in one look; with
   * `own.delivered`, also whether the system already got that messageId (as wasDelivered).
   */
  caseView(systemId: string, caseKey: string, own: CaseViewOptions): Promise<CaseView>;
  /** Takes the case's next ticket for `source`, or returns the one it already holds. Durable when resolved. */
  takeTicket(take: TakeTicket): Promise<CaseTicket>;
  /** A pending ticket was parked again: its record is not attempted before `notBefore`. */
  rescheduleTicket(ticket: number, notBefore: string): Promise<void>;
  /** The ticket's record was delivered or dead-lettered: the case moves on to its next ticket. */
  settleTicket(ticket: number, outcome: 'delivered' | 'dead-lettered'): Promise<void>;
  close(): Promise<void>;
}
