/**
 * The ingress stages: decode → validate → authority, directory and contract checks → serialize →
 * sign → publish. A request is all-or-nothing: either every message it carries is durably on the
 * bus (and the caller gets 202), or none is published and the caller gets one problem answer.
 */
import { createHash } from 'node:crypto';
import type { Adapter, AdapterContext, DecodedMessage } from '../../adapters/sdk/adapter.ts';
import type { AdapterRegistry } from '../../adapters/sdk/registry.ts';
import type { MessageTypeSpec, XoevMessage } from '../../standards/catalogue.ts';
import { header } from '../../standards/xoev/message.ts';
import { toCanonicalXml, validateMessage } from '../../standards/xoev/xml-codec.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { deliverTopic, HEADER } from '../bus/topics.ts';
import type { Contracts } from '../directory/contracts.ts';
import type { Directory, SystemEntry } from '../directory/directory.ts';
import { GatewayError } from '../errors/catalogue.ts';
import type { Logger } from '../log/logger.ts';
import type { Bus, BusRecord } from '../ports/bus.ts';

export interface DocumentSealer {
  /** Signs a canonical unsigned document; returns the signed document. */
  sign(canonicalXml: string): Promise<string>;
}

export interface IngressDeps {
  adapters: AdapterRegistry;
  directory: () => Directory;
  contracts: () => Contracts;
  sealer: DocumentSealer;
  bus: Bus;
  audit: AuditLog;
  topicPrefix: string;
  adapterContext: AdapterContext;
  logger: Logger;
  /** True if a message with this nachrichtenUUID was accepted before (replay protection). */
  alreadyAccepted(messageId: string): Promise<boolean>;
}

export interface NativeRequest {
  systemId: string;
  body: Buffer;
  contentType: string;
  requestId: string;
  traceparent?: string;
}

export interface AcceptedMessage {
  messageId: string;
  messageType: string;
  receiverSystem: string;
}

interface Routed {
  spec: MessageTypeSpec;
  message: XoevMessage;
  receiver: SystemEntry;
}

/** Errors already written to the audit log, so the HTTP layer does not record them twice. */
export const auditedErrors = new WeakSet<object>();

function mediaType(contentType: string): string {
  return contentType.split(';')[0]!.trim().toLowerCase();
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export class Ingress {
  constructor(private readonly deps: IngressDeps) {}

  async acceptNative(request: NativeRequest): Promise<AcceptedMessage[]> {
    const { deps } = this;
    const actor = `system:${request.systemId}`;
    let messageIds: string[] = [];
    try {
      const system = deps.directory().system(request.systemId);
      if (!system)
        throw new GatewayError('GW_ERR_UNKNOWN_SYSTEM', `system ${request.systemId} is not in the directory`);
      const adapter = deps.adapters.get(system.adapter);
      if (!adapter)
        throw new GatewayError(
          'GW_ERR_INTERNAL',
          `adapter ${system.adapter} of ${system.id} is not installed`,
        );
      this.checkMediaType(adapter, request.contentType);

      const decoded = adapter.decode(
        { body: request.body, contentType: mediaType(request.contentType) },
        deps.adapterContext,
      );
      if (decoded.length === 0)
        throw new GatewayError('GW_ERR_MAPPING_FAILED', 'the payload contains no message');
      const routed = decoded.map((d) => this.route(system, d, decoded.length > 1, request.body.length));
      messageIds = routed.map((r) => header(r.message)['identifikation.nachricht'].nachrichtenUUID);
      await this.rejectReplays(messageIds);
      return await this.sealAndPublish(system, routed, request, actor);
    } catch (error) {
      if (error instanceof GatewayError && !auditedErrors.has(error)) {
        auditedErrors.add(error);
        await deps.audit.record({
          kind: 'rejected',
          actor,
          messageId: messageIds[0] ?? request.requestId,
          senderSystem: request.systemId,
          detail: { code: error.code, requestId: request.requestId, messages: messageIds.length },
        });
      }
      throw error;
    }
  }

  private checkMediaType(adapter: Adapter, contentType: string): void {
    const type = mediaType(contentType);
    if (!adapter.spec.decodes.contentTypes.includes(type)) {
      throw new GatewayError(
        'GW_ERR_UNSUPPORTED_MEDIA_TYPE',
        `${adapter.spec.id} accepts ${adapter.spec.decodes.contentTypes.join(', ')}, not ${type || '(none)'}`,
      );
    }
  }

  /** Validation, then deny-by-default routing: the sender must serve its authority and a contract must allow it. */
  private route(system: SystemEntry, decoded: DecodedMessage, batch: boolean, bytes: number): Routed {
    const { deps } = this;
    let message: XoevMessage;
    try {
      message = validateMessage(decoded.spec, decoded.message);
    } catch (error) {
      if (batch && error instanceof GatewayError) {
        throw new GatewayError(error.code, `${decoded.nativeRef}: ${error.message}`, {
          errors: error.errors,
        });
      }
      throw error;
    }
    const h = header(message);
    const sender = h.autor.kennung;
    const receiverAuthority = h.leser.kennung;
    if (!deps.directory().serves(system.id, sender)) {
      throw new GatewayError(
        'GW_ERR_SENDER_AUTHORITY',
        `${system.id} does not serve the sending authority ${sender}`,
        {
          errors: [{ pointer: '/nachrichtenkopf.g2g/autor/kennung', detail: `not served by ${system.id}` }],
        },
      );
    }
    const receiver = deps.directory().systemFor(receiverAuthority);
    if (!receiver) {
      throw new GatewayError('GW_ERR_UNKNOWN_RECEIVER', `no system serves ${receiverAuthority}`, {
        errors: [{ pointer: '/nachrichtenkopf.g2g/leser/kennung', detail: 'not in the directory' }],
      });
    }
    const contract = deps.contracts().allowing({
      senderSystem: system.id,
      senderAuthority: sender,
      receiverAuthority,
      standard: decoded.spec.standard,
      messageType: decoded.spec.name,
    });
    if (!contract) {
      throw new GatewayError(
        'GW_ERR_CONTRACT_VIOLATION',
        `no contract allows ${system.id} (${sender}) to send ${decoded.spec.name} to ${receiverAuthority}`,
        {
          errors: [
            { pointer: '/nachrichtenkopf.g2g/leser/kennung', detail: 'no contract covers this route' },
          ],
        },
      );
    }
    if (contract.requirements.maxBytes && bytes > contract.requirements.maxBytes) {
      throw new GatewayError(
        'GW_ERR_PAYLOAD_TOO_LARGE',
        `contract ${contract.id} allows at most ${contract.requirements.maxBytes} bytes`,
      );
    }
    const accepted = receiver.accepts.find((a) => a.standard === decoded.spec.standard);
    if (!accepted?.versions.includes(decoded.spec.version)) {
      throw new GatewayError(
        'GW_ERR_VERSION_NOT_ACCEPTED',
        `${receiver.id} does not accept ${decoded.spec.standard} ${decoded.spec.version}`,
      );
    }
    return { spec: decoded.spec, message, receiver };
  }

  private async rejectReplays(messageIds: string[]): Promise<void> {
    const seen = new Set<string>();
    for (const id of messageIds) {
      if (seen.has(id) || (await this.deps.alreadyAccepted(id))) {
        throw new GatewayError('GW_ERR_DUPLICATE_MESSAGE', `nachrichtenUUID ${id} was already accepted`, {
          errors: [
            {
              pointer: '/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtenUUID',
              detail: 'already used',
            },
          ],
        });
      }
      seen.add(id);
    }
  }

  private async sealAndPublish(
    system: SystemEntry,
    routed: Routed[],
    request: NativeRequest,
    actor: string,
  ): Promise<AcceptedMessage[]> {
    const { deps } = this;
    const sealed = await Promise.all(
      routed.map(async (r) => {
        const signed = await deps.sealer.sign(toCanonicalXml(r.spec, r.message));
        return { ...r, signed, digest: sha256(signed) };
      }),
    );
    const records: BusRecord[] = sealed.map((s) => {
      const h = header(s.message);
      const headers: Record<string, string> = {
        [HEADER.messageId]: h['identifikation.nachricht'].nachrichtenUUID,
        [HEADER.messageType]: s.spec.id,
        [HEADER.standardVersion]: `${s.spec.standard}:${s.spec.version}`,
        [HEADER.sender]: h.autor.kennung,
        [HEADER.receiver]: h.leser.kennung,
        [HEADER.senderSystem]: system.id,
        [HEADER.receiverSystem]: s.receiver.id,
        [HEADER.digest]: s.digest,
        [HEADER.requestId]: request.requestId,
      };
      if (request.traceparent) headers[HEADER.traceparent] = request.traceparent;
      return {
        topic: deliverTopic(deps.topicPrefix, s.receiver.id),
        // The case key keeps a message and its answers in one partition, in order.
        key: h.referenzUUID ?? h['identifikation.nachricht'].nachrichtenUUID,
        value: Buffer.from(s.signed, 'utf8'),
        headers,
      };
    });
    try {
      await deps.bus.publish(records);
    } catch (cause) {
      deps.logger.error({ err: cause, requestId: request.requestId }, 'bus publish failed; nothing accepted');
      throw new GatewayError(
        'GW_ERR_BUS_UNAVAILABLE',
        'the message bus did not confirm the message; retry later',
        {
          headers: { 'retry-after': '5' },
          cause,
        },
      );
    }
    await deps.audit.recordMany(
      sealed.flatMap((s) => {
        const h = header(s.message);
        const common = {
          actor,
          messageId: h['identifikation.nachricht'].nachrichtenUUID,
          sender: h.autor.kennung,
          receiver: h.leser.kennung,
          senderSystem: system.id,
          receiverSystem: s.receiver.id,
          messageType: s.spec.id,
        };
        return [
          { ...common, kind: 'received' as const, detail: { requestId: request.requestId } },
          { ...common, kind: 'accepted' as const, detail: { referenzUUID: h.referenzUUID ?? null } },
          { ...common, kind: 'signed' as const, actor: 'gateway', digest: s.digest, detail: {} },
          { ...common, kind: 'queued' as const, actor: 'gateway', digest: s.digest, detail: {} },
        ];
      }),
    );
    for (const s of sealed) {
      deps.logger.info(
        {
          messageId: header(s.message)['identifikation.nachricht'].nachrichtenUUID,
          type: s.spec.id,
          to: s.receiver.id,
        },
        'message queued',
      );
    }
    return sealed.map((s) => ({
      messageId: header(s.message)['identifikation.nachricht'].nachrichtenUUID,
      messageType: s.spec.id,
      receiverSystem: s.receiver.id,
    }));
  }
}
