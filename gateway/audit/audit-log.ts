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
  private readonly now: (() => Date) | undefined;
  private readonly onAppended: ((count: number) => void) | undefined;
  /** The system clock's last millisecond and its ISO form: the events of one recordMany share it. */
  private lastMs = Number.NaN;
  private lastTime = '';

  constructor(store: AuditStore, options: AuditLogOptions = {}) {
    this.store = store;
    this.chain = options.chain ?? 'main';
    this.now = options.now;
    this.onAppended = options.onAppended;
  }

  /**
   * The same log writing to another chain: a bus consumer keeps one chain per partition, so that
   * a replayed partition meets its own idempotency keys (they are unique per chain).
   */
  withChain(chain: string): AuditLog {
    return new AuditLog(this.store, {
      chain,
      ...(this.now ? { now: this.now } : {}),
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

  /** `new Date().toISOString()`, formatted once per millisecond (the clock a test passes: every time). */
  private time(): string {
    if (this.now) return this.now().toISOString();
    const ms = Date.now();
    if (ms !== this.lastMs) {
      this.lastMs = ms;
      this.lastTime = new Date(ms).toISOString();
    }
    return this.lastTime;
  }

  private complete(event: AuditRecordInput): AuditEventInput {
    const completed: AuditEventInput = {
      time: event.time ?? this.time(),
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
    if (event.idempotencyKey) completed.idempotencyKey = event.idempotencyKey;
    return completed;
  }
}
