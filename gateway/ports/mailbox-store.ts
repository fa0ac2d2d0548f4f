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

export interface MailboxStore {
  readonly kind: string;
  /** Puts an item into the system's inbox unless that system already got this messageId. Returns false on a duplicate. */
  putIfNew(item: InboxItem): Promise<boolean>;
  /** Records a push delivery; false if this messageId was already delivered to the system. */
  recordPushed(systemId: string, messageId: string): Promise<boolean>;
  wasDelivered(systemId: string, messageId: string): Promise<boolean>;
  /** Unacknowledged items, oldest first. */
  list(systemId: string, options: { limit: number; after?: string }): Promise<InboxPage>;
  get(systemId: string, messageId: string): Promise<InboxItem | undefined>;
  /** Acknowledges; returns the item the first time, 'already' on repeats, undefined if unknown. */
  ack(systemId: string, messageId: string): Promise<InboxItem | 'already' | undefined>;
  close(): Promise<void>;
}
