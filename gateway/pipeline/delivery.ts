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
 * What holds for ordering: records of one case (one key) are attempted in publish order, and a
 * parked record's retries keep its key, so parked records of one case wait in one retry partition.
 * A later record of the case that succeeds at once can overtake a parked one (issue 8).
 *
 * Delays on the retry topic: the consumer defers the head of a retry partition until it is due, so
 * a record behind it waits too; since every record is due at most maxDelayMs after it was parked,
 * no record is attempted later than maxDelayMs after its parking (plus the time to work the backlog).
 */

import { hostname } from 'node:os';
import type { AdapterContext } from '../../adapters/sdk/adapter.ts';
import type { AdapterRegistry } from '../../adapters/sdk/registry.ts';
import type { XoevMessage } from '../../standards/catalogue.ts';
import { catalogue } from '../../standards/index.ts';
import { header } from '../../standards/xoev/message.ts';
import { fromElement, validateMessage } from '../../standards/xoev/xml-codec.ts';
import type { ArchiveRequest } from '../audit/archive/document-archiver.ts';
import type { AuditLog, AuditRecordInput } from '../audit/audit-log.ts';
import { RedeliverLater } from '../bus/redeliver-later.ts';
import {
  deadLetterTopic,
  deliverTopic,
  deliveryGroup,
  HEADER,
  retryGroup,
  retryTopic,
} from '../bus/topics.ts';
import type { PushClient } from '../delivery/push-client.ts';
import type { Directory, SystemEntry } from '../directory/directory.ts';
import { isGatewayError } from '../errors/catalogue.ts';
import { forMessage, type Logger } from '../log/logger.ts';
import type { Bus, ConsumedRecord, Subscription } from '../ports/bus.ts';
import type { MailboxStore } from '../ports/mailbox-store.ts';
import type { VerifiedDocument } from '../signing/verifier.ts';
import { nextStep, type RetryPolicy } from './retry-policy.ts';

export interface DeliveryDeps {
  bus: Bus;
  directory: () => Directory;
  adapters: AdapterRegistry;
  mailbox: MailboxStore;
  audit: AuditLog;
  pusher: PushClient;
  /** Verifies the gateway's own seal on a document taken from the bus. */
  verify(xml: string): Promise<VerifiedDocument>;
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
}

type DeliveryEvent = Omit<AuditRecordInput, 'kind' | 'detail'> & {
  messageId: string;
  messageType: string;
  digest: string;
  sender: string;
};

/**
 * This process, in audit details and logs: which of several gateway processes did the work.
 * (Host and pid: unique among live processes, readable in an incident.)
 */
export const GATEWAY_INSTANCE = `${hostname()}/${process.pid}`;

/** How long a not-yet-due retry is deferred at most before the consumer looks at it again. */
const MAX_DEFER_MS = 30_000;
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
  ) {
    super(reason.slice(0, REASON_LIMIT));
  }
}

/** Receivers' answers that say "not now" rather than "never". */
const TRANSIENT_STATUS = new Set([408, 425, 429]);

function failedAttemptsOf(record: ConsumedRecord): number {
  const n = Number(record.headers[HEADER.attempts] ?? 0);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

export class DeliveryWorker {
  private subscriptions: Subscription[] = [];
  private readonly now: () => Date;

  constructor(private readonly deps: DeliveryDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async start(): Promise<void> {
    const { deps } = this;
    const systems = deps.directory().systems;
    await deps.bus.ensureTopics(
      systems.flatMap((s) => [
        { name: deliverTopic(deps.topicPrefix, s.id), partitions: deps.partitions },
        { name: retryTopic(deps.topicPrefix, s.id), partitions: deps.partitions },
        { name: deadLetterTopic(deps.topicPrefix, s.id), partitions: 1 },
      ]),
    );
    // Joined side by side: on Kafka each group join takes a round of the group protocol.
    const joined = await Promise.allSettled(
      systems.flatMap((system) => [
        deps.bus.subscribe({
          group: deliveryGroup(deps.topicPrefix, system.id),
          topics: [deliverTopic(deps.topicPrefix, system.id)],
          redeliveryDelayMs: deps.redeliveryDelayMs,
          handler: (record) => this.handle(system.id, record),
        }),
        deps.bus.subscribe({
          group: retryGroup(deps.topicPrefix, system.id),
          topics: [retryTopic(deps.topicPrefix, system.id)],
          redeliveryDelayMs: deps.redeliveryDelayMs,
          handler: (record) => this.handleRetry(system.id, record),
        }),
      ]),
    );
    for (const r of joined) if (r.status === 'fulfilled') this.subscriptions.push(r.value);
    const failed = joined.find((r) => r.status === 'rejected');
    if (failed) {
      await this.stop();
      throw failed.reason;
    }
  }

  async stop(): Promise<void> {
    const subs = this.subscriptions;
    this.subscriptions = [];
    await Promise.all(subs.map((s) => s.close()));
  }

  private async handleRetry(systemId: string, record: ConsumedRecord): Promise<void> {
    const due = Date.parse(record.headers[HEADER.notBefore] ?? '');
    const wait = Number.isFinite(due) ? due - this.now().getTime() : 0;
    if (wait > 0) throw new RedeliverLater(Math.min(wait, MAX_DEFER_MS), 'retry not due yet');
    await this.handle(systemId, record);
  }

  private async handle(systemId: string, record: ConsumedRecord): Promise<void> {
    const log = forMessage(this.deps.logger, record.headers[HEADER.messageId] ?? 'unknown', {
      to: systemId,
      instance: GATEWAY_INSTANCE,
    });
    const attempt = failedAttemptsOf(record) + 1;
    try {
      await this.deliver(systemId, record, attempt, log);
    } catch (error) {
      if (!(error instanceof AttemptFailed)) throw error;
      if (error.permanent) {
        const attempts = error.counted ? attempt : attempt - 1;
        await this.deadLetter(systemId, record, error.message, attempts, log);
        return;
      }
      await this.retryOrDeadLetter(systemId, record, attempt, error.message, log);
    }
  }

  private async deliver(systemId: string, record: ConsumedRecord, attempt: number, log: Logger) {
    const { deps } = this;
    const system = deps.directory().system(systemId);
    if (!system) throw new AttemptFailed(`system ${systemId} is no longer in the directory`, true, false);
    const xml = record.value.toString('utf8');
    let verified: VerifiedDocument;
    try {
      verified = await deps.verify(xml);
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
      message = validateMessage(spec, fromElement(spec, root));
    } catch (error) {
      throw new AttemptFailed(`sealed document does not validate: ${(error as Error).message}`, true, false);
    }
    const h = header(message);
    const messageId = h['identifikation.nachricht'].nachrichtenUUID;
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
    await deps.archive?.({
      messageId,
      standard: spec.standard,
      messageType: spec.name,
      senderSystem: event.senderSystem ?? '',
      senderAuthority: h.autor.kennung,
      receiverAuthority: h.leser.kennung,
      digest: verified.digest,
      signedDocument: xml,
    });
    if (system.delivery.mode === 'push' && (await deps.mailbox.wasDelivered(system.id, messageId))) {
      log.info('duplicate suppressed: already pushed');
      await this.auditDeliveredIfMissing(event, 'push');
      return;
    }
    const adapter = deps.adapters.get(system.adapter);
    if (!adapter) throw new AttemptFailed(`adapter ${system.adapter} is not installed`, false, false);
    let native: { body: Buffer; contentType: string };
    try {
      native = adapter.encode(message, spec, deps.adapterContext);
    } catch (error) {
      // A coded error is the adapter saying "this message cannot be expressed"; anything else may pass.
      const code = isGatewayError(error) ? error.code : undefined;
      await deps.audit.record({
        ...event,
        kind: 'delivery-attempted',
        detail: {
          mode: system.delivery.mode,
          attempt,
          outcome: `adapter ${system.adapter} failed: ${code ?? (error as Error).name}`,
          instance: GATEWAY_INSTANCE,
        },
      });
      throw new AttemptFailed(
        `adapter ${system.adapter} failed to encode: ${code ?? (error as Error).name}`,
        code !== undefined,
      );
    }

    if (system.delivery.mode === 'pull') {
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
      if (fresh)
        await deps.audit.record({
          ...event,
          kind: 'delivered',
          detail: { mode: 'pull', instance: GATEWAY_INSTANCE },
        });
      else {
        log.info('duplicate suppressed: already in the inbox');
        await this.auditDeliveredIfMissing(event, 'pull');
      }
      return;
    }
    await this.push(system, native, event, record, attempt);
  }

  private async push(
    system: SystemEntry,
    native: { body: Buffer; contentType: string },
    event: DeliveryEvent,
    record: ConsumedRecord,
    attempt: number,
  ): Promise<void> {
    const { deps } = this;
    if (system.delivery.mode !== 'push') return;
    const result = await deps.pusher.push(system.delivery.url, native.body, native.contentType, {
      'x-nachrichten-uuid': event.messageId,
      'x-message-type': event.messageType,
      'x-sender': event.sender,
      'x-gateway-digest': event.digest,
      ...(record.headers[HEADER.traceparent] ? { traceparent: record.headers[HEADER.traceparent] } : {}),
    });
    const attempted = {
      ...event,
      kind: 'delivery-attempted' as const,
      detail: {
        mode: 'push',
        status: result.status,
        outcome: result.ok ? 'ok' : result.detail,
        attempt,
        instance: GATEWAY_INSTANCE,
      },
    };
    if (!result.ok) {
      await deps.audit.record(attempted);
      const permanent = result.status >= 400 && result.status < 500 && !TRANSIENT_STATUS.has(result.status);
      throw new AttemptFailed(`push to ${system.id} failed: ${result.detail}`, permanent);
    }
    // The ledger first: the shorter the time between the receiver's 2xx and this row, the smaller
    // the window in which a crash makes another process push the message again.
    await deps.mailbox.recordPushed(system.id, event.messageId);
    // In push mode the receiver's 2xx is its acknowledgement.
    await deps.audit.recordMany([
      attempted,
      {
        ...event,
        kind: 'delivered',
        detail: { mode: 'push', status: result.status, attempt, instance: GATEWAY_INSTANCE },
      },
      { ...event, kind: 'acknowledged', detail: { mode: 'push' } },
    ]);
  }

  /**
   * A process that crashed after the ledger row and before its audit append left a delivered
   * message without its `delivered` event; whoever meets the record again writes it.
   */
  private async auditDeliveredIfMissing(event: DeliveryEvent, mode: 'push' | 'pull'): Promise<void> {
    const { audit } = this.deps;
    const found = await audit.store.query({ messageId: event.messageId, kind: 'delivered', limit: 1 });
    if (found.length > 0) return;
    const delivered = {
      ...event,
      kind: 'delivered' as const,
      detail: { mode, recovered: true, instance: GATEWAY_INSTANCE },
    };
    // In push mode the receiver's 2xx was its acknowledgement.
    await audit.recordMany(
      mode === 'push'
        ? [delivered, { ...event, kind: 'acknowledged' as const, detail: { mode, recovered: true } }]
        : [delivered],
    );
  }

  private async retryOrDeadLetter(
    systemId: string,
    record: ConsumedRecord,
    attempt: number,
    reason: string,
    log: Logger,
  ): Promise<void> {
    const { deps } = this;
    const now = this.now();
    const first = Date.parse(record.headers[HEADER.firstFailedAt] ?? '');
    const firstFailedAt = Number.isFinite(first) ? new Date(first) : now;
    const step = nextStep(deps.retry, attempt, firstFailedAt, now);
    if (step.kind === 'dead-letter') {
      await this.deadLetter(systemId, record, `${step.reason}; last error: ${reason}`, attempt, log);
      return;
    }
    await deps.bus.publish([
      {
        topic: retryTopic(deps.topicPrefix, systemId),
        key: record.key,
        value: record.value,
        headers: {
          ...record.headers,
          [HEADER.attempts]: String(attempt),
          [HEADER.notBefore]: step.notBefore.toISOString(),
          [HEADER.firstFailedAt]: firstFailedAt.toISOString(),
          [HEADER.lastError]: reason.slice(0, REASON_LIMIT),
        },
      },
    ]);
    log.warn(
      { attempt, notBefore: step.notBefore.toISOString(), reason },
      'delivery failed; parked for retry',
    );
  }

  private async deadLetter(
    systemId: string,
    record: ConsumedRecord,
    reason: string,
    attempts: number,
    log: Logger,
  ): Promise<void> {
    const { deps } = this;
    const at = this.now().toISOString();
    log.error({ reason, attempts }, 'undeliverable record parked in the dead-letter topic');
    await deps.bus.publish([
      {
        topic: deadLetterTopic(deps.topicPrefix, systemId),
        key: record.key,
        value: record.value,
        headers: {
          ...record.headers,
          [HEADER.attempts]: String(attempts),
          [HEADER.deadLetterReason]: reason.slice(0, 500),
          [HEADER.deadLetteredAt]: at,
        },
      },
    ]);
    await deps.audit.record({
      kind: 'dead-lettered',
      actor: 'gateway',
      // From the record's headers, which are not sealed: metadata for finding the entry, not evidence.
      messageId: record.headers[HEADER.messageId] ?? null,
      receiverSystem: systemId,
      senderSystem: record.headers[HEADER.senderSystem] ?? null,
      messageType: record.headers[HEADER.messageType] ?? null,
      detail: { reason: reason.slice(0, 500), attempts, instance: GATEWAY_INSTANCE },
    });
  }
}
