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
 * - Durable while pending: at the first failure (and only then: the hot path does no I/O of its own)
 *   the request's entries are written to the local spool (audit-pending-spool.ts,
 *   `<dataDir>/audit-pending/`, fsynced) before the sender is answered, and the file is removed once
 *   they landed. A crash (SIGKILL, OOM, power loss) or a stop that gives them up leaves the file;
 *   the next start on the same data directory appends them before it takes messages
 *   (resumeSpooled(); the keys make that harmless if they had landed). Without that, the message
 *   would be delivered with no `accepted` in the trail, and once the claims were gone a resend of its
 *   nachrichtenUUID would pass the replay check and be published a second time. Entries the store
 *   still refuses at the start go on in the background like those of a live request, and the
 *   ingress holds their ids' claims until they land (a resend: 503 GW_ERR_MESSAGE_ID_IN_FLIGHT, then
 *   409), rather than the whole gateway refusing messages over a few ids. The spool is this
 *   process's: another replica does not see it, and it covers a replaced pod only if the data
 *   directory is on a persistent volume (deploy/README.md). The keys are unique per chain, so the
 *   next start must append to the same chain (GATEWAY_AUDIT_CHAIN unchanged, as the shipped
 *   manifests keep it). A spool write that fails (disk full) is logged; the request is answered as
 *   it would have been without the spool.
 * - At a clean shutdown, settle() waits (bounded) for what is pending and then gives it up, logging
 *   every entry in full: spooled (warn), they are written at the next start; not spooled (error),
 *   those messages were published, and their entries must be added by hand.
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
import type { AuditPendingSpool } from './audit-pending-spool.ts';
import { backoffMs } from './retry-policy.ts';
import { settledWithin } from './settled-within.ts';

/**
 * Gives each of a request's ingress entries its idempotency key: `ingress/<time>/<requestId>/<n>`,
 * n its place in the request's append. The request id is the server's own UUID (http/server.ts
 * genReqId), so no later request for the same nachrichtenUUID (a resend after a refusal) meets the
 * keys. The time (ms, base 36) leads so that keys are inserted in ascending order: at the right edge
 * of the stores' unique key index, not scattered over it as bare UUIDs would be (in SQLite the
 * scattered inserts cost about a third more CPU per message: test/bench/ingress-audit-keys-ab.ts).
 */
export function keyIngressEntries(
  requestId: string,
  entries: AuditRecordInput[],
  prefix = ingressKeyPrefix(requestId),
): void {
  for (let n = 0; n < entries.length; n++) entries[n]!.idempotencyKey = prefix + n;
}

/**
 * The keys' common part, `ingress/<time>/<requestId>/`: taken before the publish, so that each
 * record can name its message's keys (HEADER.auditKey) and entries written from the record after a
 * crash (ingress-audit-recovery.ts) are the very entries the ingress would have written.
 */
export function ingressKeyPrefix(requestId: string): string {
  return `ingress/${Date.now().toString(36)}/${requestId}/`;
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
  /** Pauses between attempts: the first, doubling up to the max, jittered (retry-policy.ts backoffMs). */
  backoffMs?: { first: number; max: number };
  /** Messages whose entries may be pending at once; beyond, isFull(). Default 10,000. */
  maxPendingMessages?: number;
  /** Where pending entries are kept across a crash or a stop; absent, they are kept in memory only. */
  spool?: AuditPendingSpool;
  /** Told how many messages' entries landed after being pending across a restart (resumeSpooled()). */
  onResumedLanded?: (messages: number) => void;
}

/** A batch whose entries the store still refuses after a restart: its ids are to be held until `landed`. */
export interface ResumedPending {
  messageIds: readonly string[];
  /** As AuditPendingError's: true once the entries landed, false when given up at a stop. */
  landed: Promise<boolean>;
}

const DEFAULT_BACKOFF = { first: 50, max: 5_000 };

/** How long settle() waits, after giving up, for spool writes and removals still under way. */
const ENDINGS_MS = 2_000;

interface PendingBatch {
  landed: Promise<boolean>;
  /** Its spool file, once written (never, without a spool or if the write failed). */
  file?: string | undefined;
  /** Set once the appends ended: whether the entries landed. */
  landedOk?: boolean;
}

/** How long settle() waits by default: a clean stop should not hang on a store that is gone. */
const DEFAULT_SETTLE_MS = 10_000;

export class PublishedAudit {
  private readonly backoff: { first: number; max: number };
  private readonly maxPending: number;
  /** The background appends, by their batches. */
  private readonly pending = new Map<PublishedEntries, PendingBatch>();
  /** Each batch's ending (its spool file removed or kept): settle() waits for them. */
  private readonly endings = new Set<Promise<void>>();
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
   * After the first append of `batch` failed with `firstError`: spools the entries and appends
   * again until it lands. Resolves if it lands within `withinRequestMs`; else rejects with
   * AuditPendingError once the entries are in the spool, the appends going on in the background.
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
    // Beside the appends, not before them: a store blip that passes costs no fsync's latency.
    const spooled = this.spoolOf(batch);
    const landed = this.keepAppending(batch, deadline);
    this.track(batch, landed, spooled);
    if ((await settledWithin(landed, deadline - performance.now()))?.value === true) return;
    // The answer says "will be written": only once a crash can no longer lose them.
    await spooled;
    for (const messageId of batch.messageIds) {
      logger.error(
        {
          messageId,
          requestId: batch.requestId,
          traceId: batch.traceId,
          // In full: should the spool be lost with its volume, the log is what is left of them.
          entries: batch.entries.filter((e) => e.messageId === messageId),
        },
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
   * At start-up, before messages are taken: appends the entries an earlier run left in the spool
   * (one attempt each; once one fails, the rest go straight to the background) and removes their
   * files. Returns the batches the store still refuses, appended on in the background like a live
   * request's: the caller holds their ids until they land.
   */
  async resumeSpooled(): Promise<ResumedPending[]> {
    const { spool, logger } = this.options;
    if (!spool) return [];
    const spooled = await spool.readAll();
    const stillPending: ResumedPending[] = [];
    let storeRefuses = false;
    for (const { file, batch } of spooled) {
      if (!storeRefuses) {
        try {
          await this.options.audit.recordMany(batch.entries);
          for (const messageId of batch.messageIds) {
            logger.warn(
              { messageId, requestId: batch.requestId, traceId: batch.traceId, file },
              'audit entries of a published message written from the spool at start-up (an earlier run could not write them)',
            );
          }
          this.options.onResumedLanded?.(batch.messageIds.length);
          await this.removeSpooled(file, batch);
          continue;
        } catch (error) {
          storeRefuses = true;
          logger.error(
            { err: error, file, messageId: batch.messageIds[0] },
            'the audit store refuses the spooled entries of published messages; retrying in the background, their ids held',
          );
        }
      }
      const landed = this.keepAppending(batch, performance.now());
      this.track(batch, landed, Promise.resolve(file));
      void landed.then((ok) => {
        if (ok) this.options.onResumedLanded?.(batch.messageIds.length);
      });
      stillPending.push({ messageIds: batch.messageIds, landed });
    }
    return stillPending;
  }

  /**
   * Waits for the pending appends, at most `timeoutMs` (trying each at once rather than after its
   * pause); then gives up what is still pending, leaving it in the spool and logging its entries
   * in full.
   */
  async settle(timeoutMs = DEFAULT_SETTLE_MS): Promise<void> {
    if (this.pending.size === 0 && this.endings.size === 0) return;
    this.wakeAll();
    await settledWithin(Promise.all([...this.pending.values()].map((p) => p.landed)), timeoutMs);
    this.givenUp = true;
    this.wakeAll();
    const remaining = [...this.pending.entries()];
    // Spool writes under way finish, and landed batches' files are removed, before the process
    // ends; bounded, for an append or a disk that hangs.
    await settledWithin(Promise.all(this.endings), ENDINGS_MS);
    for (const [batch, state] of remaining) {
      // An append under way when the wait ended may have landed after all.
      if (state.landedOk) continue;
      for (const messageId of batch.messageIds) {
        const fields = {
          messageId,
          requestId: batch.requestId,
          traceId: batch.traceId,
          entries: batch.entries.filter((e) => e.messageId === messageId),
        };
        if (state.file) {
          this.options.logger.warn(
            { ...fields, file: state.file },
            'shutting down with the audit entries of a published message unwritten; they stay in the audit-pending spool and are written at the next start on this data directory',
          );
        } else {
          this.options.logger.error(
            fields,
            'shutting down with the audit entries of a published message unwritten; add them to the trail by hand',
          );
        }
      }
    }
  }

  /** The file the batch's entries were spooled to; undefined without a spool or if it could not be written. */
  private async spoolOf(batch: PublishedEntries): Promise<string | undefined> {
    const { spool } = this.options;
    if (!spool) return undefined;
    try {
      return await spool.write(batch);
    } catch (err) {
      for (const messageId of batch.messageIds) {
        this.options.logger.error(
          { err, messageId, requestId: batch.requestId, traceId: batch.traceId, dir: spool.dir },
          'could not spool the pending audit entries of a published message: a crash before they land loses them',
        );
      }
      return undefined;
    }
  }

  /** Counts the batch as pending until it lands or is given up; then removes its spool file if it landed. */
  private track(batch: PublishedEntries, landed: Promise<boolean>, spooled: Promise<string | undefined>) {
    const state: PendingBatch = { landed };
    this.pending.set(batch, state);
    this.pendingMessages += batch.messageIds.length;
    const ending = (async () => {
      const [ok, file] = await Promise.all([
        landed,
        spooled.then((f) => {
          state.file = f;
          return f;
        }),
      ]);
      if (ok && file) await this.removeSpooled(file, batch);
    })();
    void landed.then((ok) => {
      state.landedOk = ok;
      this.pending.delete(batch);
      this.pendingMessages -= batch.messageIds.length;
    });
    this.endings.add(ending);
    void ending.finally(() => this.endings.delete(ending));
  }

  /** Removes a spool file whose entries landed; one left behind is only appended again, writing nothing. */
  private async removeSpooled(file: string, batch: PublishedEntries): Promise<void> {
    try {
      await this.options.spool?.remove(file);
    } catch (err) {
      this.options.logger.warn(
        { err, file, messageId: batch.messageIds[0], requestId: batch.requestId },
        'could not remove a spool file whose audit entries landed (harmless: appending them again writes nothing)',
      );
    }
  }

  /** Appends until the entries land (true) or settle() gives them up (false); the first pause is one backoff. */
  private async keepAppending(batch: PublishedEntries, deadline: number): Promise<boolean> {
    const policy = { baseDelayMs: this.backoff.first, maxDelayMs: this.backoff.max };
    for (let attempt = 2; ; attempt++) {
      await this.sleep(backoffMs(policy, attempt - 1));
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
