/**
 * Marks pull acks audited in the mailbox (MailboxStore.markAcksAudited) in batches: one write per
 * batch instead of one per ack, which in PostgreSQL doubled the mailbox's work per ack (a second
 * round trip and commit). A mark is only a shortcut for the ack audit sweep (ack-audit-sweep.ts):
 * one lost with a crash, or a batch that fails, leaves its acks to the sweep, which finds their
 * entries in the trail and marks them then — a look each, never a second entry.
 */
import type { Logger } from '../log/logger.ts';
import type { AckedItemKey, MailboxStore } from '../ports/mailbox-store.ts';

/** How long a mark waits for others to share its write. */
const DEFAULT_DELAY_MS = 50;
/** A batch this large is written at once. */
const MAX_BATCH = 500;

export class AckAuditMarks {
  private pending: AckedItemKey[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly writes = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly options: { mailbox: MailboxStore; logger: Logger; delayMs?: number }) {}

  /** The ack's `acknowledged` entry is written (or was found): mark it, soon. */
  add(key: AckedItemKey): void {
    if (this.closed) return;
    this.pending.push({ systemId: key.systemId, messageId: key.messageId });
    if (this.pending.length >= MAX_BATCH) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.options.delayMs ?? DEFAULT_DELAY_MS);
      this.timer.unref();
    }
  }

  /** Writes what is pending now; resolves when every write begun so far has ended. */
  async settle(): Promise<void> {
    this.flush();
    await Promise.all([...this.writes]);
  }

  /** Writes what is pending; later marks are dropped (the sweep confirms their acks). */
  async close(): Promise<void> {
    this.closed = true;
    await this.settle();
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const write = this.options.mailbox.markAcksAudited(batch).catch((error: unknown) => {
      this.options.logger.warn(
        { err: error, messageIds: batch.map((k) => k.messageId) },
        'pull acks audited, but not marked so in the mailbox (the ack audit sweep confirms them)',
      );
    });
    this.writes.add(write);
    void write.finally(() => this.writes.delete(write));
  }
}
