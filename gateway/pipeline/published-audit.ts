/**
 * The ingress's audit entries of messages already on the bus (received, accepted, [converted],
 * signed, queued). The ingress publishes first and audits after: auditing first would turn a crash
 * between the two into a 409 for a message never published, a loss. Once published, the messages
 * are accepted (they will be delivered), so their entries must reach the trail whatever the store
 * does meanwhile, and nothing may say they failed:
 *
 * - The first append is the ingress's own (its hot path is unchanged). If it fails, retry() appends
 *   again, backing off, for up to `withinRequestMs` while the sender waits: a store blip (PostgreSQL
 *   restarting, a SQLite lock) costs latency, not the answer.
 * - The entries carry idempotency keys (keyIngressEntries): an append that committed although its
 *   acknowledgement was lost is not written twice by the next attempt.
 * - Not landed in time: retry() rejects with AuditPendingError (503 GW_ERR_AUDIT_PENDING: queued,
 *   audit record pending; audited neither `failed` nor `rejected`), and the appends go on in the
 *   background until they land. Its `landed` settles then; the ingress holds the ids' claims until
 *   it does, so that the sender's retry waits and is then refused as already accepted (409) instead
 *   of being published again.
 * - Bounded memory: while `maxPendingMessages` messages are pending, isFull() says so and the ingress
 *   takes no new message (it refuses before publishing: nothing is accepted). A store that is down
 *   stops new messages anyway (the replay check asks it); the bound is for one that reads and does
 *   not write.
 * - At a clean shutdown, settle() waits (bounded) for what is pending and then gives it up, logging
 *   every entry in full (error): those messages were published, and their entries must be added by
 *   hand.
 *
 * Every log line names the message (`messageId`), one line per message of a batch. An entry written
 * on a retry carries the time it was written, possibly after the message's `delivered`: the status
 * fold ranks progress and never moves back (audit/message-summary.ts), so the status is unaffected.
 */
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditLog, AuditRecordInput } from '../audit/audit-log.ts';
import { GatewayError } from '../errors/catalogue.ts';
import type { Logger } from '../log/logger.ts';
import { settledWithin } from './settled-within.ts';

/**
 * Gives each of a request's ingress entries its idempotency key: `ingress/<time>/<requestId>/<n>`,
 * n its place in the request's append. The request id is the server's own UUID (http/server.ts
 * genReqId), so no later request for the same nachrichtenUUID (a resend after a refusal) meets the
 * keys. The time (ms, base 36) leads so that keys are inserted in ascending order: at the right edge
 * of the stores' unique key index, not scattered over it as bare UUIDs would be (in SQLite the
 * scattered inserts cost about a third more CPU per message: test/bench/ingress-audit-keys-ab.ts).
 */
export function keyIngressEntries(requestId: string, entries: AuditRecordInput[]): void {
  const prefix = `ingress/${Date.now().toString(36)}/${requestId}/`;
  for (let n = 0; n < entries.length; n++) entries[n]!.idempotencyKey = prefix + n;
}

/** One request's entries: what retry() keeps appending. */
export interface PublishedEntries {
  requestId: string;
  /** The nachrichtenUUIDs the entries are of, in the request's order. */
  messageIds: string[];
  traceId?: string | undefined;
  /** With idempotency keys (keyIngressEntries), as the first append had them. */
  entries: AuditRecordInput[];
}

/** Published, answered before the entries landed: 503 GW_ERR_AUDIT_PENDING, and not a failure. */
export class AuditPendingError extends GatewayError {
  /**
   * Resolves once the background appends ended: true when the entries landed, false when they were
   * given up (shutdown). Never rejects.
   */
  readonly landed: Promise<boolean>;

  constructor(
    messageIds: readonly string[],
    landed: Promise<boolean>,
    retryAfterSeconds: number,
    cause: unknown,
  ) {
    const which =
      messageIds.length === 1 ? `message ${messageIds[0]} was` : `messages ${messageIds.join(', ')} were`;
    super(
      'GW_ERR_AUDIT_PENDING',
      `the ${which} queued and will be delivered, but the audit store has not confirmed the record of ` +
        'its acceptance yet; the gateway keeps writing it. Do not send it again under a new nachrichtenUUID: ' +
        'a retry with the same one is answered 409 (already accepted) once the record is written',
      { headers: { 'retry-after': String(retryAfterSeconds) }, cause },
    );
    this.landed = landed;
  }
}

export interface PublishedAuditOptions {
  audit: AuditLog;
  logger: Logger;
  /** How long a request waits for its entries after the first append failed. */
  withinRequestMs: number;
  /** Pauses between attempts: the first, doubling up to the max, each with up to a quarter of jitter. */
  backoffMs?: { first: number; max: number };
  /** Messages whose entries may be pending at once; beyond, isFull(). Default 10,000. */
  maxPendingMessages?: number;
}

const DEFAULT_BACKOFF = { first: 50, max: 5_000 };
/** How long settle() waits by default: a clean stop should not hang on a store that is gone. */
const DEFAULT_SETTLE_MS = 10_000;

export class PublishedAudit {
  private readonly backoff: { first: number; max: number };
  private readonly maxPending: number;
  /** The background appends, by their batches. */
  private readonly pending = new Map<PublishedEntries, Promise<boolean>>();
  private pendingMessages = 0;
  /** Set by settle() once it stops waiting: the appends still pending end. */
  private givenUp = false;
  /** Aborted to cut the pauses under way short (settle(): try now, or stop); then a new one. */
  private pauses = unboundedController();

  constructor(private readonly options: PublishedAuditOptions) {
    this.backoff = options.backoffMs ?? DEFAULT_BACKOFF;
    this.maxPending = options.maxPendingMessages ?? 10_000;
  }

  /** Whether no more messages may be taken: too many are waiting for their entries. */
  isFull(): boolean {
    return this.pendingMessages >= this.maxPending;
  }

  /** Messages whose entries are pending (diagnostics, tests). */
  get pendingCount(): number {
    return this.pendingMessages;
  }

  /**
   * After the first append of `batch` failed with `firstError`: appends again until it lands.
   * Resolves if it lands within `withinRequestMs`; else rejects with AuditPendingError, the appends
   * going on in the background.
   */
  async retry(batch: PublishedEntries, firstError: unknown): Promise<void> {
    const { logger } = this.options;
    const deadline = performance.now() + this.options.withinRequestMs;
    for (const messageId of batch.messageIds) {
      logger.warn(
        { err: firstError, messageId, requestId: batch.requestId, traceId: batch.traceId },
        'audit append after the publish failed; retrying (the message is on the bus)',
      );
    }
    const landed = this.keepAppending(batch, deadline);
    this.pending.set(batch, landed);
    this.pendingMessages += batch.messageIds.length;
    void landed.then(() => {
      this.pending.delete(batch);
      this.pendingMessages -= batch.messageIds.length;
    });
    if ((await settledWithin(landed, deadline - performance.now()))?.value === true) return;
    for (const messageId of batch.messageIds) {
      logger.error(
        { messageId, requestId: batch.requestId, traceId: batch.traceId },
        'audit entries of a published message still not written; answered 503 GW_ERR_AUDIT_PENDING, retrying in the background',
      );
    }
    throw new AuditPendingError(
      batch.messageIds,
      landed,
      Math.max(1, Math.ceil(this.backoff.max / 1000)),
      firstError,
    );
  }

  /**
   * Waits for the pending appends, at most `timeoutMs` (trying each at once rather than after its
   * pause); then gives up what is still pending, logging its entries in full.
   */
  async settle(timeoutMs = DEFAULT_SETTLE_MS): Promise<void> {
    if (this.pending.size === 0) return;
    this.wakeAll();
    await settledWithin(Promise.all(this.pending.values()), timeoutMs);
    this.givenUp = true;
    this.wakeAll();
    for (const batch of this.pending.keys()) {
      for (const messageId of batch.messageIds) {
        this.options.logger.error(
          {
            messageId,
            requestId: batch.requestId,
            traceId: batch.traceId,
            entries: batch.entries.filter((e) => e.messageId === messageId),
          },
          'shutting down with the audit entries of a published message unwritten; add them to the trail by hand',
        );
      }
    }
  }

  /** Appends until the entries land (true) or settle() gives them up (false); the first pause is one backoff. */
  private async keepAppending(batch: PublishedEntries, deadline: number): Promise<boolean> {
    let pause = this.backoff.first;
    for (let attempt = 2; ; attempt++) {
      await this.sleep(pause * (1 + Math.random() / 4));
      if (this.givenUp) return false;
      try {
        await this.options.audit.recordMany(batch.entries);
      } catch (err) {
        if (this.givenUp) return false;
        for (const messageId of batch.messageIds) {
          this.options.logger.warn(
            { err, messageId, requestId: batch.requestId, attempt },
            'audit append after the publish failed again',
          );
        }
        pause = Math.min(pause * 2, this.backoff.max);
        continue;
      }
      const late = performance.now() >= deadline;
      for (const messageId of batch.messageIds) {
        this.options.logger.info(
          { messageId, requestId: batch.requestId, attempt, afterTheAnswer: late },
          'audit entries of a published message written on a retry',
        );
      }
      return true;
    }
  }

  /** A pause that wakeAll() ends early. */
  private sleep(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.pauses.signal }).catch(() => {});
  }

  private wakeAll(): void {
    this.pauses.abort();
    this.pauses = unboundedController();
  }
}

/** One abort listener per pending batch, up to maxPendingMessages: no leak warning past ten. */
function unboundedController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}
