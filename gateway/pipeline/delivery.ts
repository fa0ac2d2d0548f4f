/**
 * The delivery stage: two consumer groups per receiving system, one on its deliver topic and one on
 * its retry topic. For every record: verify the gateway's seal, read the message from the verified
 * DOM element (never from the raw bytes again), encode it for the receiver with its adapter, and
 * hand it over once — into the pull inbox or by HTTPS push.
 *
 * A failed attempt never blocks the partition: the record is parked in `<prefix>.retry.<system>`
 * with its attempt count and a not-before time (exponential backoff with jitter, retry-policy.ts),
 * then the original is committed. The retry consumer defers a record until it is due (RedeliverLater:
 * the bus pauses that retry partition without a busy loop) and then attempts it like a fresh one.
 * After the configured attempts or age, or at once for a record that can never be delivered (broken
 * seal, a receiver's 4xx), the record goes to `<prefix>.dlq.<system>`; `gw dlq replay` brings it back.
 * Only failures of the gateway's own stores (mailbox, audit, bus) make the bus hand a record again.
 *
 * Ordering: records of one case (one key) are delivered in publish order, across retries and
 * processes — a parked record holds a case ticket in the MailboxStore, later records of its case
 * park behind it without an attempt, and only a case's head is attempted (case-order.ts, which also
 * says why dead-lettering the head does not stop the case).
 *
 * Audit: every event goes to the chain of the record's partition with an idempotency key derived
 * from the record's position, so a redelivered or replayed record writes nothing twice
 * (delivery-audit.ts). A record whose case ticket is settled is not attempted again. Every entry
 * records the record's replay generation (detail.replayGeneration), see RecordAttempt.
 *
 * Delays on the retry topic: the consumer defers the head of a retry partition until it is due, so
 * a record behind it waits too; since every record is due at most maxDelayMs after it was parked,
 * no record is attempted later than maxDelayMs after its parking (plus the time to work the backlog).
 */

import type { AdapterContext } from '../../adapters/sdk/adapter.ts';
import type { AdapterRegistry } from '../../adapters/sdk/registry.ts';
import type { XoevMessage } from '../../standards/catalogue.ts';
import { catalogue } from '../../standards/index.ts';
import { header } from '../../standards/xoev/message.ts';
import type { ArchiveRequest } from '../audit/archive/document-archiver.ts';
import type { AuditLog, AuditRecordInput } from '../audit/audit-log.ts';
import { RedeliverLater } from '../bus/redeliver-later.ts';
import {
  deadLetterTopic,
  deliverTopic,
  deliveryGroup,
  failedAttemptsOf,
  HEADER,
  replayGenerationOf,
  retryGroup,
  retryTopic,
} from '../bus/topics.ts';
import type { CircuitBreakers } from '../delivery/circuit-breaker.ts';
import type { PushClient } from '../delivery/push-client.ts';
import { sealedMessage } from '../delivery/sealed-message.ts';
import type { Directory, SystemEntry } from '../directory/directory.ts';
import { isGatewayError } from '../errors/catalogue.ts';
import { GATEWAY_INSTANCE } from '../log/instance.ts';
import { forMessage, type Logger } from '../log/logger.ts';
import { inTraceOf } from '../log/trace-scope.ts';
import { type PipelineInstruments, stageStart } from '../observability/pipeline.ts';
import { outgoingTraceHeaders } from '../observability/trace-context.ts';
import type { Bus, ConsumedRecord, Subscription } from '../ports/bus.ts';
import type { MailboxStore } from '../ports/mailbox-store.ts';
import type { VerifiedSeal } from '../signing/own-seal.ts';
import { CASE_TICKET_HEADER, CaseOrder, type LedgerLook, sourceOf, ticketOf } from './case-order.ts';
import { AUDIT_SLOT, auditKey, DeliveryAuditChains } from './delivery-audit.ts';
import { nextStep, type RetryPolicy } from './retry-policy.ts';
import { SystemSubscriptions } from './system-subscriptions.ts';

export interface DeliveryDeps {
  bus: Bus;
  directory: () => Directory;
  adapters: AdapterRegistry;
  mailbox: MailboxStore;
  audit: AuditLog;
  pusher: PushClient;
  /** Per-system push circuit breakers of this process (delivery/circuit-breaker.ts); absent: always push. */
  breakers?: CircuitBreakers;
  /** Verifies the gateway's own seal on a document taken from the bus (signing/own-seal.ts). */
  verify(xml: string): Promise<VerifiedSeal>;
  adapterContext: AdapterContext;
  topicPrefix: string;
  /** Partitions of each deliver and retry topic (fixed at creation; more partitions, more parallel cases). */
  partitions: number;
  /** How soon the bus hands a record again after a failure of the gateway's own stores. */
  redeliveryDelayMs: number;
  retry: RetryPolicy;
  logger: Logger;
  /** Clock; tests may pass their own. */
  now?: () => Date;
  /** Archives the sealed document (gateway/audit/archive); never fails a delivery. */
  archive?: (request: ArchiveRequest) => Promise<boolean>;
  /** Stage latencies and outcome counts (observability/pipeline.ts); absent in bare unit setups. */
  instruments?: PipelineInstruments;
}

/** A record's logger, made when the first line is written (DeliveryWorker.logFor). */
type RecordLog = () => Logger;

type DeliveryEvent = Omit<AuditRecordInput, 'kind' | 'detail'> & {
  messageId: string;
  messageType: string;
  digest: string;
  sender: string;
};

/**
 * Which attempt at a record this is, and of which replay generation (HEADER.replayGeneration: 0 for
 * the first delivery, n after the n-th replay from the dead-letter queue). Every delivery audit
 * entry records the generation, so the status history orders it by cause, not by guessing from the
 * dead-letters around it (causal-history.ts).
 */
interface RecordAttempt {
  attempt: number;
  replayGeneration: number;
}

/** How long a not-yet-due retry is deferred at most before the consumer looks at it again. */
const MAX_DEFER_MS = 30_000;
/** Shortest wait of a record re-parked behind its case's head (no busy loop if the head went missing). */
const MIN_CASE_WAIT_MS = 1_000;
const REASON_LIMIT = 300;

/**
 * An attempt that failed. `permanent`: trying again cannot help (dead-letter now). `counted`: the
 * attempt reached the adapter or the receiver (and was audited), so it counts as one.
 */
class AttemptFailed extends Error {
  constructor(
    reason: string,
    readonly permanent: boolean,
    readonly counted = true,
    /** Not to be tried again before this (an open circuit breaker says when it lets a probe through). */
    readonly notBefore?: Date,
  ) {
    super(reason.slice(0, REASON_LIMIT));
  }
}

/** Backoff of the ledger write after a successful push (recordPushed). */
const LEDGER_RETRY_MS = { first: 100, max: 2000 };

/** Receivers' answers that say "not now" rather than "never". */
const TRANSIENT_STATUS = new Set([408, 425, 429]);

export class DeliveryWorker {
  /** The deliver and retry subscriptions of each system of the directory. */
  private readonly subscriptions: SystemSubscriptions;
  private stopped = false;
  private readonly now: () => Date;
  private readonly caseOrder: CaseOrder;
  private readonly auditChains: DeliveryAuditChains;

  constructor(private readonly deps: DeliveryDeps) {
    this.now = deps.now ?? (() => new Date());
    this.caseOrder = new CaseOrder(deps.mailbox, Math.max(deps.redeliveryDelayMs, MIN_CASE_WAIT_MS));
    this.auditChains = new DeliveryAuditChains(deps.audit);
    this.subscriptions = new SystemSubscriptions({
      stage: 'delivery',
      logger: deps.logger,
      wanted: () => deps.directory().systems.map((s) => s.id),
      prepare: (fresh) =>
        deps.bus.ensureTopics(
          fresh.flatMap((id) => [
            { name: deliverTopic(deps.topicPrefix, id), partitions: deps.partitions },
            { name: retryTopic(deps.topicPrefix, id), partitions: deps.partitions },
            { name: deadLetterTopic(deps.topicPrefix, id), partitions: 1 },
          ]),
        ),
      subscribe: (id) => this.subscribeSystem(id),
    });
  }

  /** Subscribes every system of the directory; fails (subscribing nothing) if any subscription fails. */
  async start(): Promise<void> {
    this.stopped = false;
    try {
      await this.subscriptions.start();
    } catch (error) {
      this.stopped = true;
      throw error;
    }
  }

  /**
   * Brings the subscriptions in step with the directory (after a configuration reload): subscribes
   * the systems that are new, closes those of systems that are gone (their records stay on the bus
   * for when they come back). Rejects if a new system could not be subscribed; the others stay.
   */
  sync(): Promise<void> {
    return this.subscriptions.sync();
  }

  /** The deliver and retry subscriptions of one system. */
  private subscribeSystem(systemId: string): Promise<Subscription>[] {
    const { deps } = this;
    return [
      deps.bus.subscribe({
        group: deliveryGroup(deps.topicPrefix, systemId),
        topics: [deliverTopic(deps.topicPrefix, systemId)],
        redeliveryDelayMs: deps.redeliveryDelayMs,
        handler: (record) =>
          inTraceOf(record.headers[HEADER.traceparent], () => this.handle(systemId, record)),
      }),
      deps.bus.subscribe({
        group: retryGroup(deps.topicPrefix, systemId),
        topics: [retryTopic(deps.topicPrefix, systemId)],
        redeliveryDelayMs: deps.redeliveryDelayMs,
        handler: (record) =>
          inTraceOf(record.headers[HEADER.traceparent], () => this.handleRetry(systemId, record)),
      }),
    ];
  }

  /** Ids of the systems with live delivery subscriptions. */
  get systems(): string[] {
    return this.subscriptions.systems;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.subscriptions.stop();
  }

  /**
   * The record's logger, made on first use: most records are delivered without a log line, and a
   * child logger per record would cost every one of them.
   */
  private logFor(systemId: string, record: ConsumedRecord): RecordLog {
    let log: Logger | undefined;
    return () =>
      (log ??= forMessage(this.deps.logger, record.headers[HEADER.messageId] ?? 'unknown', {
        to: systemId,
        instance: GATEWAY_INSTANCE,
      }));
  }

  /** A record of the deliver topic: attempted now unless an earlier record of its case waits. */
  private async handle(systemId: string, record: ConsumedRecord): Promise<void> {
    const log = this.logFor(systemId, record);
    const step = await this.caseOrder.onDeliverTopic(systemId, record, this.ledgerAsk(systemId, record));
    switch (step.kind) {
      case 'attempt':
        return this.attempt(systemId, record, undefined, log, step.ledger);
      case 'settled':
        log().info('already handled (its case ticket is settled): nothing to do');
        return;
      case 'park-again':
        await this.park(systemId, record, step.ticket.ticket, new Date(step.ticket.notBefore), {});
        return;
      case 'park-behind': {
        const now = this.now();
        const due = Date.parse(step.head.notBefore);
        const notBefore = new Date(Math.max(Number.isFinite(due) ? due : 0, now.getTime()));
        const messageId = record.headers[HEADER.messageId] ?? sourceOf(record);
        const ticket = await this.caseOrder.take(systemId, record, messageId, notBefore);
        // Waiting counts towards the age limit: a case whose receiver stays down drains in time.
        await this.park(systemId, record, ticket.ticket, new Date(ticket.notBefore), {
          [HEADER.firstFailedAt]: record.headers[HEADER.firstFailedAt] ?? now.toISOString(),
          [HEADER.lastError]: `waiting behind an earlier message of its case (ticket ${step.head.ticket})`,
        });
        log().info(
          { ticket: ticket.ticket, head: step.head.ticket },
          'parked behind an earlier message of its case',
        );
        return;
      }
    }
  }

  /** A record of the retry topic: attempted when it is due and its case's turn. */
  private async handleRetry(systemId: string, record: ConsumedRecord): Promise<void> {
    const due = Date.parse(record.headers[HEADER.notBefore] ?? '');
    const wait = Number.isFinite(due) ? due - this.now().getTime() : 0;
    if (wait > 0) throw new RedeliverLater(Math.min(wait, MAX_DEFER_MS), 'retry not due yet');
    const log = this.logFor(systemId, record);
    const step = await this.caseOrder.onRetryTopic(
      systemId,
      record,
      this.now(),
      this.ledgerAsk(systemId, record),
    );
    switch (step.kind) {
      case 'attempt':
        return this.attempt(systemId, record, step.ticket, log, step.ledger);
      case 'settled':
        log().info('duplicate parked copy of a settled record dropped');
        return;
      case 'wait':
        // At the tail of the retry partition: behind the case's head, out of the way of other cases.
        await this.park(systemId, record, ticketOf(record)!, step.notBefore, {});
        return;
    }
  }

  /**
   * The messageId whose ledger row the case view reads along (deliver()'s duplicate check of a push
   * system): the record's header, unsealed, so only a hint which row to read (see LedgerLook).
   */
  private ledgerAsk(systemId: string, record: ConsumedRecord): string | undefined {
    if (this.deps.directory().system(systemId)?.delivery.mode !== 'push') return undefined;
    return record.headers[HEADER.messageId];
  }

  /** One attempt; settles the record's case ticket once it is delivered or dead-lettered. */
  private async attempt(
    systemId: string,
    record: ConsumedRecord,
    ticket: number | undefined,
    log: RecordLog,
    ledger?: LedgerLook,
  ): Promise<void> {
    const attempt = failedAttemptsOf(record.headers) + 1;
    try {
      await this.deliver(systemId, record, attempt, log, ledger);
      if (ticket !== undefined) await this.caseOrder.settle(ticket, 'delivered');
    } catch (error) {
      if (!(error instanceof AttemptFailed)) throw error;
      if (error.permanent) {
        const attempts = error.counted ? attempt : attempt - 1;
        await this.deadLetter(systemId, record, ticket, error.message, attempts, log);
        return;
      }
      const attempts = error.counted ? attempt : attempt - 1;
      await this.retryOrDeadLetter(systemId, record, ticket, attempts, error.message, log, error.notBefore);
    }
  }

  /** Publishes the record to the retry topic with its case ticket, not to be attempted before `notBefore`. */
  private async park(
    systemId: string,
    record: ConsumedRecord,
    ticket: number,
    notBefore: Date,
    headers: Record<string, string>,
  ): Promise<void> {
    const { deps } = this;
    await deps.bus.publish([
      {
        topic: retryTopic(deps.topicPrefix, systemId),
        key: record.key,
        value: record.value,
        headers: {
          ...record.headers,
          ...headers,
          [HEADER.notBefore]: notBefore.toISOString(),
          [CASE_TICKET_HEADER]: String(ticket),
        },
      },
    ]);
  }

  private async deliver(
    systemId: string,
    record: ConsumedRecord,
    attempt: number,
    log: RecordLog,
    ledger: LedgerLook | undefined,
  ) {
    const { deps } = this;
    const system = deps.directory().system(systemId);
    if (!system) throw new AttemptFailed(`system ${systemId} is no longer in the directory`, true, false);
    const xml = record.value.toString('utf8');
    let verified: VerifiedSeal;
    try {
      const verifyStarted = stageStart();
      verified = await deps.verify(xml);
      deps.instruments?.stage('delivery.verify', verifyStarted);
    } catch (error) {
      throw new AttemptFailed(`seal verification failed: ${(error as Error).message}`, true, false);
    }
    const root = verified.root;
    const spec = catalogue.byRoot(root.namespaceURI ?? '', root.localName ?? '');
    if (!spec)
      throw new AttemptFailed(
        `no catalogued message type for {${root.namespaceURI}}${root.localName}`,
        true,
        false,
      );
    let message: XoevMessage;
    try {
      // Validated before it was sealed; read, not validated again (delivery/sealed-message.ts says why).
      message = sealedMessage(spec, root);
    } catch (error) {
      throw new AttemptFailed(`sealed document cannot be read: ${(error as Error).message}`, true, false);
    }
    const h = header(message);
    const messageId = h['identifikation.nachricht'].nachrichtenUUID;
    const replayGeneration = replayGenerationOf(record.headers);
    const event: DeliveryEvent = {
      actor: 'gateway',
      messageId,
      sender: h.autor.kennung,
      receiver: h.leser.kennung,
      senderSystem: record.headers[HEADER.senderSystem] ?? null,
      receiverSystem: systemId,
      messageType: spec.id,
      digest: verified.digest,
    };
    // The ledger answer read with the case view counts only for the verified nachrichtenUUID. It is
    // as current as the old separate read for what case order lets run: the case had no other
    // pending record when it was read, and a settled one wrote its ledger row before it settled
    // (one statement reads both, one snapshot).
    const pushedBefore =
      system.delivery.mode === 'push' &&
      (ledger?.messageId === messageId
        ? ledger.delivered
        : await deps.mailbox.wasDelivered(system.id, messageId));
    if (pushedBefore) {
      log().info('duplicate suppressed: already pushed');
      await this.auditDeliveredIfMissing(event, 'push', record, replayGeneration);
      return;
    }
    // After the duplicate check: a message already pushed needs no second archive write. Started
    // here and awaited once the receiver answered (push()), so that the archive's durable write and
    // the push's round trip overlap; the ledger row waits for it, so a message the ledger calls
    // pushed is archived. It never rejects: a failed archive write is logged, not a failed delivery
    // (DocumentArchiver).
    const archived = deps.archive?.({
      messageId,
      standard: spec.standard,
      messageType: spec.name,
      senderSystem: event.senderSystem ?? '',
      senderAuthority: h.autor.kennung,
      receiverAuthority: h.leser.kennung,
      digest: verified.digest,
      // The record's bytes: the verified text, not encoded again (the archive checks the digest).
      signedDocument: record.value,
    });
    // Awaited below; a rejection meanwhile (none is expected) must not count as unhandled.
    archived?.catch(() => {});
    try {
      const adapter = deps.adapters.get(system.adapter);
      if (!adapter) throw new AttemptFailed(`adapter ${system.adapter} is not installed`, false, false);
      let native: { body: Buffer; contentType: string };
      try {
        const encodeStarted = stageStart();
        native = adapter.encode(message, spec, deps.adapterContext);
        deps.instruments?.stage('delivery.encode', encodeStarted);
      } catch (error) {
        // A coded error is the adapter saying "this message cannot be expressed"; anything else may pass.
        const code = isGatewayError(error) ? error.code : undefined;
        await this.auditChains.of(systemId, record).record({
          ...event,
          idempotencyKey: auditKey(record, AUDIT_SLOT.attemptFailed),
          kind: 'delivery-attempted',
          detail: {
            mode: system.delivery.mode,
            attempt,
            outcome: `adapter ${system.adapter} failed: ${code ?? (error as Error).name}`,
            instance: GATEWAY_INSTANCE,
            replayGeneration,
          },
        });
        throw new AttemptFailed(
          `adapter ${system.adapter} failed to encode: ${code ?? (error as Error).name}`,
          code !== undefined,
        );
      }

      if (system.delivery.mode === 'pull') {
        await archived;
        const fresh = await deps.mailbox.putIfNew({
          systemId,
          messageId,
          messageType: spec.id,
          senderAuthority: h.autor.kennung,
          receiverAuthority: h.leser.kennung,
          senderSystem: event.senderSystem ?? '',
          digest: verified.digest,
          signedDocument: xml,
          nativeContentType: native.contentType,
          nativeBody: native.body,
          createdAt: this.now().toISOString(),
        });
        if (fresh) {
          await this.auditChains.of(systemId, record).record({
            ...event,
            idempotencyKey: auditKey(record, AUDIT_SLOT.delivered),
            kind: 'delivered',
            detail: { mode: 'pull', instance: GATEWAY_INSTANCE, replayGeneration },
          });
          deps.instruments?.outcome('delivered');
        } else {
          log().info('duplicate suppressed: already in the inbox');
          await this.auditDeliveredIfMissing(event, 'pull', record, replayGeneration);
        }
        return;
      }
      await this.push(system, native, event, record, archived, { attempt, replayGeneration }, log);
    } finally {
      // Whatever the attempt's outcome, the record is done only once its archive write is.
      await archived;
    }
  }

  private async push(
    system: SystemEntry,
    native: { body: Buffer; contentType: string },
    event: DeliveryEvent,
    record: ConsumedRecord,
    archived: Promise<unknown> | undefined,
    { attempt, replayGeneration }: RecordAttempt,
    log: RecordLog,
  ): Promise<void> {
    const { deps } = this;
    // Only for the type: deliver() handled pull. Never a silent return, which would commit the record.
    if (system.delivery.mode !== 'push') throw new Error(`push() called for ${system.id} in pull mode`);
    const audit = this.auditChains.of(system.id, record);
    const breaker = deps.breakers?.of(system.id);
    const admitted = breaker?.admit();
    if (admitted && !admitted.allowed) {
      // Not pushed, not an attempt at the receiver; the parked record's reason is in the audit trail.
      const outcome = `not pushed: ${admitted.reason}`;
      const detail = {
        mode: 'push',
        pushed: false,
        outcome,
        attempt,
        instance: GATEWAY_INSTANCE,
        replayGeneration,
      };
      const idempotencyKey = auditKey(record, AUDIT_SLOT.attemptFailed);
      await audit.record({ ...event, idempotencyKey, kind: 'delivery-attempted', detail });
      throw new AttemptFailed(outcome, false, false, admitted.retryAt);
    }
    const pushStarted = stageStart();
    const result = await deps.pusher.push(system.delivery.url, native.body, native.contentType, {
      'x-nachrichten-uuid': event.messageId,
      'x-message-type': event.messageType,
      'x-sender': event.sender,
      'x-gateway-digest': event.digest,
      ...outgoingTraceHeaders(record.headers[HEADER.traceparent], record.headers[HEADER.tracestate]),
    });
    deps.instruments?.stage('delivery.push', pushStarted);
    const attempted = {
      ...event,
      kind: 'delivery-attempted' as const,
      detail: {
        mode: 'push',
        status: result.status,
        outcome: result.ok ? 'ok' : result.detail,
        attempt,
        instance: GATEWAY_INSTANCE,
        replayGeneration,
      },
    };
    const permanent = result.status >= 400 && result.status < 500 && !TRANSIENT_STATUS.has(result.status);
    // A receiver that answers "never" to one message is up: only "not now" and no answer trip the breaker.
    if (result.ok || permanent) breaker?.succeeded();
    else breaker?.failed(result.detail);
    if (!result.ok) {
      await audit.record({ ...attempted, idempotencyKey: auditKey(record, AUDIT_SLOT.attemptFailed) });
      throw new AttemptFailed(`push to ${system.id} failed: ${result.detail}`, permanent);
    }
    // The archive write normally ended during the round trip. If not, the ledger row waits for it
    // (a message the ledger calls pushed is archived), and the window below is longer by the rest.
    await archived;
    // The ledger row is started first: the shorter the time between the receiver's 2xx and this
    // row, the smaller the window in which a crash makes another process push the message again.
    // The audit append runs beside it rather than after it (one durable commit's wait less per
    // record, and the next record of the partition waits for this one): a crash between the two
    // leaves what it left before — the ledger row without the events (written when the record
    // comes again, auditDeliveredIfMissing), or the events without the row (pushed again, the
    // events' idempotency keys keep them single), the window of the second push being as long.
    const ledgerWritten = this.recordPushed(system.id, event.messageId, log);
    // In push mode the receiver's 2xx is its acknowledgement.
    const audited = audit.recordMany([
      { ...attempted, idempotencyKey: auditKey(record, AUDIT_SLOT.attemptSucceeded) },
      {
        ...event,
        idempotencyKey: auditKey(record, AUDIT_SLOT.delivered),
        kind: 'delivered',
        detail: {
          mode: 'push',
          status: result.status,
          attempt,
          instance: GATEWAY_INSTANCE,
          replayGeneration,
        },
      },
      {
        ...event,
        idempotencyKey: auditKey(record, AUDIT_SLOT.acknowledged),
        kind: 'acknowledged',
        detail: { mode: 'push', replayGeneration },
      },
    ]);
    // A failed append fails the record only once the ledger has the push, so that its redelivery
    // writes the events instead of pushing again.
    audited.catch(() => {});
    await ledgerWritten;
    await audited;
    deps.instruments?.outcome('delivered');
  }

  /**
   * The receiver has the message: from here on a second push is the thing to avoid. A ledger row
   * that cannot be written now (its database restarting) is retried while this process runs,
   * instead of failing the record, whose redelivery would push the message again. Only a process
   * that dies or stops in here leaves that duplicate to the next owner of the partition (the
   * receiver drops it by x-nachrichten-uuid).
   */
  private async recordPushed(systemId: string, messageId: string, log: RecordLog): Promise<void> {
    for (let delayMs = LEDGER_RETRY_MS.first; ; delayMs = Math.min(delayMs * 2, LEDGER_RETRY_MS.max)) {
      try {
        await this.deps.mailbox.recordPushed(systemId, messageId);
        return;
      } catch (error) {
        if (this.stopped) throw error;
        log().warn(
          { reason: (error as Error).message, retryInMs: delayMs },
          'pushed, but the delivery ledger could not record it; retrying the ledger, not the push',
        );
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }

  /**
   * A process that crashed after the ledger row and before its audit append left a delivered
   * message without its `delivered` event; whoever meets the record again writes it.
   */
  private async auditDeliveredIfMissing(
    event: DeliveryEvent,
    mode: 'push' | 'pull',
    record: ConsumedRecord,
    replayGeneration: number,
  ): Promise<void> {
    if (await this.deps.audit.store.hasEvent(event.messageId, 'delivered')) return;
    const delivered = {
      ...event,
      idempotencyKey: auditKey(record, AUDIT_SLOT.delivered),
      kind: 'delivered' as const,
      detail: { mode, recovered: true, instance: GATEWAY_INSTANCE, replayGeneration },
    };
    const acknowledged = {
      ...event,
      idempotencyKey: auditKey(record, AUDIT_SLOT.acknowledged),
      kind: 'acknowledged' as const,
      detail: { mode, recovered: true, replayGeneration },
    };
    // In push mode the receiver's 2xx was its acknowledgement.
    await this.auditChains
      .of(event.receiverSystem ?? '', record)
      .recordMany(mode === 'push' ? [delivered, acknowledged] : [delivered]);
  }

  private async retryOrDeadLetter(
    systemId: string,
    record: ConsumedRecord,
    ticket: number | undefined,
    attempt: number,
    reason: string,
    log: RecordLog,
    earliest?: Date,
  ): Promise<void> {
    const { deps } = this;
    const now = this.now();
    const first = Date.parse(record.headers[HEADER.firstFailedAt] ?? '');
    const firstFailedAt = Number.isFinite(first) ? new Date(first) : now;
    const next = nextStep(deps.retry, attempt, firstFailedAt, now);
    const step =
      next.kind === 'retry' && earliest && earliest > next.notBefore
        ? { ...next, notBefore: earliest }
        : next;
    if (step.kind === 'dead-letter') {
      await this.deadLetter(systemId, record, ticket, `${step.reason}; last error: ${reason}`, attempt, log);
      return;
    }
    // The first failure takes the case's ticket; later records of the case now park behind it.
    const messageId = record.headers[HEADER.messageId] ?? sourceOf(record);
    const parked = ticket ?? (await this.caseOrder.take(systemId, record, messageId, step.notBefore)).ticket;
    // The store first: a record of the case waiting behind this one waits until this time.
    if (ticket !== undefined) await this.caseOrder.reschedule(ticket, step.notBefore);
    await this.park(systemId, record, parked, step.notBefore, {
      [HEADER.attempts]: String(attempt),
      [HEADER.firstFailedAt]: firstFailedAt.toISOString(),
      [HEADER.lastError]: reason.slice(0, REASON_LIMIT),
    });
    deps.instruments?.outcome('retried');
    log().warn(
      { attempt, notBefore: step.notBefore.toISOString(), reason },
      'delivery failed; parked for retry',
    );
  }

  private async deadLetter(
    systemId: string,
    record: ConsumedRecord,
    ticket: number | undefined,
    reason: string,
    attempts: number,
    log: RecordLog,
  ): Promise<void> {
    const { deps } = this;
    const at = this.now().toISOString();
    log().error({ reason, attempts }, 'undeliverable record parked in the dead-letter topic');
    // The ticket belongs to this delivery history; a replay starts a new one.
    const { [CASE_TICKET_HEADER]: _ticket, ...headers } = record.headers;
    await deps.bus.publish([
      {
        topic: deadLetterTopic(deps.topicPrefix, systemId),
        key: record.key,
        value: record.value,
        headers: {
          ...headers,
          [HEADER.attempts]: String(attempts),
          [HEADER.deadLetterReason]: reason.slice(0, 500),
          [HEADER.deadLetteredAt]: at,
        },
      },
    ]);
    await this.auditChains.of(systemId, record).record({
      idempotencyKey: auditKey(record, AUDIT_SLOT.deadLettered),
      kind: 'dead-lettered',
      actor: 'gateway',
      // From the record's headers, which are not sealed: metadata for finding the entry, not evidence.
      messageId: record.headers[HEADER.messageId] ?? null,
      receiverSystem: systemId,
      senderSystem: record.headers[HEADER.senderSystem] ?? null,
      messageType: record.headers[HEADER.messageType] ?? null,
      detail: {
        reason: reason.slice(0, 500),
        attempts,
        instance: GATEWAY_INSTANCE,
        // As on every delivery entry; the fold reads it here to order it after the `replayed` it
        // follows, whose time may tie (audit/message-summary.ts).
        replayGeneration: replayGenerationOf(record.headers),
      },
    });
    // Settled, the case moves on (see case-order.ts); a record without a ticket takes a settled one,
    // so that a redelivered or replayed copy is recognised and not dead-lettered twice.
    const settled =
      ticket ??
      (
        await this.caseOrder.take(
          systemId,
          record,
          record.headers[HEADER.messageId] ?? sourceOf(record),
          new Date(at),
        )
      ).ticket;
    await this.caseOrder.settle(settled, 'dead-lettered');
    deps.instruments?.outcome('dead-lettered');
  }
}
