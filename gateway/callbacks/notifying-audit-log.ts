/**
 * The audit log, telling listeners about every entry once it is durable. The follow-ups of a
 * message's lifecycle — receipts, callbacks, answer deadlines — react to the audited facts rather
 * than to hooks in each stage: an event that is not in the audit log did not happen, and every
 * stage that records `acknowledged`, `delivered` or `dead-lettered` (pull ack, push, recovery after
 * a crash, `gw dlq replay` in this process) reaches them the same way.
 *
 * Listeners run after the append, synchronously, and must only start their work (never throw,
 * never block the recording stage). Entries of an idempotent re-append are passed again; the
 * listeners are idempotent. What a process that crashed between the append and a listener's work
 * left undone is caught up at the next start (catch-up.ts); for callbacks, the entries after their
 * chain's callback watermark (callback-watermarks.ts), sent again at least once.
 */
import { AuditLog, type AuditLogOptions, type AuditRecordInput } from '../audit/audit-log.ts';
import type { Logger } from '../log/logger.ts';
import type { AuditEntry, AuditStore } from '../ports/audit-store.ts';

export type AuditListener = (entry: AuditEntry) => void;

export class NotifyingAuditLog extends AuditLog {
  private readonly listeners: AuditListener[];

  constructor(
    store: AuditStore,
    private readonly options: AuditLogOptions & { logger?: Logger } = {},
    listeners: AuditListener[] = [],
  ) {
    super(store, options);
    this.listeners = listeners;
  }

  /** Adds a listener for every entry appended from now on (through this log or its chains). */
  onEntry(listener: AuditListener): void {
    this.listeners.push(listener);
  }

  override async recordMany(events: AuditRecordInput[]): Promise<AuditEntry[]> {
    const entries = await super.recordMany(events);
    for (const entry of entries) {
      for (const listener of this.listeners) {
        try {
          listener(entry);
        } catch (error) {
          this.options.logger?.error({ err: error, messageId: entry.messageId }, 'audit listener failed');
        }
      }
    }
    return entries;
  }

  override withChain(chain: string): AuditLog {
    // The same listener list: entries on any chain reach every listener.
    return new NotifyingAuditLog(this.store, { ...this.options, chain }, this.listeners);
  }
}
