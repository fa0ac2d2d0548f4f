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
  /** Told how many entries each durable append returned, replays included (the checkpointer counts them). */
  onAppended?: (count: number) => void;
}

export class AuditLog {
  readonly store: AuditStore;
  private readonly chain: string;
  private readonly now: () => Date;
  private readonly onAppended: ((count: number) => void) | undefined;

  constructor(store: AuditStore, options: AuditLogOptions = {}) {
    this.store = store;
    this.chain = options.chain ?? 'main';
    this.now = options.now ?? (() => new Date());
    this.onAppended = options.onAppended;
  }

  /**
   * The same log writing to another chain: a bus consumer keeps one chain per partition, so that
   * a replayed partition meets its own idempotency keys (they are unique per chain).
   */
  withChain(chain: string): AuditLog {
    return new AuditLog(this.store, {
      chain,
      now: this.now,
      ...(this.onAppended ? { onAppended: this.onAppended } : {}),
    });
  }

  /** Appends one event; resolves with the stored entry once it is durable. */
  async record(event: AuditRecordInput): Promise<AuditEntry> {
    const [entry] = await this.recordMany([event]);
    return entry!;
  }

  /**
   * Appends several events atomically and in order (consecutive seqs). Events carrying an
   * idempotencyKey the chain already holds are not written again (see AuditEventInput).
   */
  async recordMany(events: AuditRecordInput[]): Promise<AuditEntry[]> {
    const entries = await this.store.append(
      events.map((event) => this.complete(event)),
      this.chain,
    );
    this.onAppended?.(entries.length);
    return entries;
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
      ...(event.idempotencyKey ? { idempotencyKey: event.idempotencyKey } : {}),
    };
  }
}
