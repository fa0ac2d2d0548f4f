/**
 * The pipeline's handle on the audit log: fills in the time and the defaults, then appends to the
 * AuditStore. Hashing and ordering are the store's job (see hash-chain.ts).
 */
import type { AuditEntry, AuditEventInput, AuditEventKind, AuditStore } from '../ports/audit-store.ts';

export type AuditRecordInput = Partial<AuditEventInput> & { kind: AuditEventKind; actor: string };

export interface AuditLogOptions {
  /** Chain to append to. Default 'main'. */
  chain?: string;
  /** Clock for `time`; tests pass a fixed one. */
  now?: () => Date;
}

export class AuditLog {
  readonly store: AuditStore;
  private readonly chain: string;
  private readonly now: () => Date;

  constructor(store: AuditStore, options: AuditLogOptions = {}) {
    this.store = store;
    this.chain = options.chain ?? 'main';
    this.now = options.now ?? (() => new Date());
  }

  /** Appends one event; resolves with the stored entry once it is durable. */
  async record(event: AuditRecordInput): Promise<AuditEntry> {
    const [entry] = await this.store.append([this.complete(event)], this.chain);
    return entry!;
  }

  /** Appends several events atomically and in order (consecutive seqs). */
  recordMany(events: AuditRecordInput[]): Promise<AuditEntry[]> {
    return this.store.append(
      events.map((event) => this.complete(event)),
      this.chain,
    );
  }

  private complete(event: AuditRecordInput): AuditEventInput {
    return {
      time: event.time ?? this.now().toISOString(),
      kind: event.kind,
      actor: event.actor,
      messageId: event.messageId ?? null,
      sender: event.sender ?? null,
      receiver: event.receiver ?? null,
      senderSystem: event.senderSystem ?? null,
      receiverSystem: event.receiverSystem ?? null,
      messageType: event.messageType ?? null,
      digest: event.digest ?? null,
      detail: event.detail ?? {},
    };
  }
}
