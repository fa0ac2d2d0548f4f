/**
 * The delivery stage: one consumer group per receiving system. For every record: verify the
 * gateway's seal, read the message from the verified DOM element (never from the raw bytes
 * again), encode it for the receiver with its adapter, and hand it over once — into the pull inbox
 * or by HTTPS push. A record is committed on the bus only after that; a failed push is retried.
 */
import type { AdapterContext } from '../../adapters/sdk/adapter.ts';
import type { AdapterRegistry } from '../../adapters/sdk/registry.ts';
import type { XoevMessage } from '../../standards/catalogue.ts';
import { catalogue } from '../../standards/index.ts';
import { header } from '../../standards/xoev/message.ts';
import { fromElement, validateMessage } from '../../standards/xoev/xml-codec.ts';
import type { AuditLog, AuditRecordInput } from '../audit/audit-log.ts';
import { deadLetterTopic, deliverTopic, deliveryGroup, HEADER } from '../bus/topics.ts';
import type { PushClient } from '../delivery/push-client.ts';
import type { Directory, SystemEntry } from '../directory/directory.ts';
import { GatewayError } from '../errors/catalogue.ts';
import { forMessage, type Logger } from '../log/logger.ts';
import type { Bus, ConsumedRecord, Subscription } from '../ports/bus.ts';
import type { MailboxStore } from '../ports/mailbox-store.ts';
import type { VerifiedDocument } from '../signing/verifier.ts';

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
  /** Partitions of each delivery topic (fixed at creation; more partitions, more parallel cases). */
  partitions: number;
  redeliveryDelayMs: number;
  logger: Logger;
}

type DeliveryEvent = Omit<AuditRecordInput, 'kind' | 'detail'> & {
  messageId: string;
  messageType: string;
  digest: string;
  sender: string;
};

/** A record that can never be delivered as it is (broken seal, unknown type): park it, do not retry. */
class PoisonRecord extends Error {}

export class DeliveryWorker {
  private subscriptions: Subscription[] = [];

  constructor(private readonly deps: DeliveryDeps) {}

  async start(): Promise<void> {
    const { deps } = this;
    const systems = deps.directory().systems;
    await deps.bus.ensureTopics(
      systems.flatMap((s) => [
        { name: deliverTopic(deps.topicPrefix, s.id), partitions: deps.partitions },
        { name: deadLetterTopic(deps.topicPrefix, s.id), partitions: 1 },
      ]),
    );
    for (const system of systems) {
      this.subscriptions.push(
        await deps.bus.subscribe({
          group: deliveryGroup(deps.topicPrefix, system.id),
          topics: [deliverTopic(deps.topicPrefix, system.id)],
          redeliveryDelayMs: deps.redeliveryDelayMs,
          handler: (record) => this.handle(system.id, record),
        }),
      );
    }
  }

  async stop(): Promise<void> {
    const subs = this.subscriptions;
    this.subscriptions = [];
    await Promise.all(subs.map((s) => s.close()));
  }

  private async handle(systemId: string, record: ConsumedRecord): Promise<void> {
    const log = forMessage(this.deps.logger, record.headers[HEADER.messageId] ?? 'unknown', { to: systemId });
    try {
      await this.deliver(systemId, record, log);
    } catch (error) {
      if (error instanceof PoisonRecord) {
        await this.park(systemId, record, error.message, log);
        return;
      }
      throw error;
    }
  }

  private async deliver(systemId: string, record: ConsumedRecord, log: Logger): Promise<void> {
    const { deps } = this;
    const system = deps.directory().system(systemId);
    if (!system) throw new PoisonRecord(`system ${systemId} is no longer in the directory`);
    const xml = record.value.toString('utf8');
    let verified: VerifiedDocument;
    try {
      verified = await deps.verify(xml);
    } catch (error) {
      throw new PoisonRecord(`seal verification failed: ${(error as Error).message}`);
    }
    const root = verified.root;
    const spec = catalogue.byRoot(root.namespaceURI ?? '', root.localName ?? '');
    if (!spec)
      throw new PoisonRecord(`no catalogued message type for {${root.namespaceURI}}${root.localName}`);
    let message: XoevMessage;
    try {
      message = validateMessage(spec, fromElement(spec, root));
    } catch (error) {
      throw new PoisonRecord(`sealed document does not validate: ${(error as Error).message}`);
    }
    const h = header(message);
    const messageId = h['identifikation.nachricht'].nachrichtenUUID;
    const adapter = deps.adapters.get(system.adapter);
    if (!adapter) throw new Error(`adapter ${system.adapter} is not installed`);
    const native = adapter.encode(message, spec, deps.adapterContext);
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
        createdAt: new Date().toISOString(),
      });
      if (fresh) await deps.audit.record({ ...event, kind: 'delivered', detail: { mode: 'pull' } });
      else log.info('duplicate suppressed: already in the inbox');
      return;
    }
    await this.push(system, native, event, record, log);
  }

  private async push(
    system: SystemEntry,
    native: { body: Buffer; contentType: string },
    event: DeliveryEvent,
    record: ConsumedRecord,
    log: Logger,
  ): Promise<void> {
    const { deps } = this;
    if (system.delivery.mode !== 'push') return;
    if (await deps.mailbox.wasDelivered(system.id, event.messageId)) {
      log.info('duplicate suppressed: already pushed');
      return;
    }
    const result = await deps.pusher.push(system.delivery.url, native.body, native.contentType, {
      'x-nachrichten-uuid': event.messageId,
      'x-message-type': event.messageType,
      'x-sender': event.sender,
      'x-gateway-digest': event.digest,
      ...(record.headers[HEADER.traceparent] ? { traceparent: record.headers[HEADER.traceparent] } : {}),
    });
    await deps.audit.record({
      ...event,
      kind: 'delivery-attempted',
      detail: { mode: 'push', status: result.status, outcome: result.ok ? 'ok' : result.detail },
    });
    if (!result.ok) {
      log.warn({ status: result.status, detail: result.detail }, 'push failed; will retry');
      throw new GatewayError('GW_ERR_INTERNAL', `push to ${system.id} failed: ${result.detail}`);
    }
    await deps.mailbox.recordPushed(system.id, event.messageId);
    // In push mode the receiver's 2xx is its acknowledgement.
    await deps.audit.recordMany([
      { ...event, kind: 'delivered', detail: { mode: 'push', status: result.status } },
      { ...event, kind: 'acknowledged', detail: { mode: 'push' } },
    ]);
  }

  private async park(systemId: string, record: ConsumedRecord, reason: string, log: Logger): Promise<void> {
    const { deps } = this;
    log.error({ reason }, 'undeliverable record parked in the dead-letter topic');
    await deps.bus.publish([
      {
        topic: deadLetterTopic(deps.topicPrefix, systemId),
        key: record.key,
        value: record.value,
        headers: { ...record.headers, 'gw-dead-letter-reason': reason.slice(0, 500) },
      },
    ]);
    await deps.audit.record({
      kind: 'dead-lettered',
      actor: 'gateway',
      messageId: record.headers[HEADER.messageId] ?? null,
      receiverSystem: systemId,
      senderSystem: record.headers[HEADER.senderSystem] ?? null,
      messageType: record.headers[HEADER.messageType] ?? null,
      detail: { reason: reason.slice(0, 500) },
    });
  }
}
