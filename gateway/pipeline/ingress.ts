/**
 * The ingress stages: decode → validate → authority, directory and contract checks → version bridge
 * → serialize → sign → publish. Two doors lead in and share everything after decoding: native
 * payloads through the sender's adapter (acceptNative) and documents already in a catalogued standard
 * (acceptStandard), optionally signed by the sender. A request is all-or-nothing: either every message
 * it carries is durably on the bus (and the caller gets 202), or none is published and the caller
 * gets one problem answer.
 */
import { createHash } from 'node:crypto';
import type { Adapter, AdapterContext, DecodedMessage } from '../../adapters/sdk/adapter.ts';
import type { AdapterRegistry } from '../../adapters/sdk/registry.ts';
import type { MessageTypeSpec, XoevMessage } from '../../standards/catalogue.ts';
import { catalogue } from '../../standards/index.ts';
import { type Conversion, versionBridge } from '../../standards/version-bridge.ts';
import { header } from '../../standards/xoev/message.ts';
import {
  fromElement,
  toCanonicalXml,
  validateMessage,
  XMLDSIG_NAMESPACE,
} from '../../standards/xoev/xml-codec.ts';
import type { AuditLog, AuditRecordInput } from '../audit/audit-log.ts';
import { auditFailure, auditRejection, markAudited } from '../audit/rejections.ts';
import { deliverTopic, HEADER } from '../bus/topics.ts';
import type { Contracts } from '../directory/contracts.ts';
import type { Directory, SystemEntry } from '../directory/directory.ts';
import { GatewayError, isGatewayError } from '../errors/catalogue.ts';
import type { Logger } from '../log/logger.ts';
import { type PipelineInstruments, stageStart } from '../observability/pipeline.ts';
import { traceIdOf } from '../observability/trace-context.ts';
import { type Bus, type BusRecord, publishSettled } from '../ports/bus.ts';
import type { SharedMessageIdClaims, SharedMessageIdLease } from '../ports/shared-message-id-claims.ts';
import type { VerifiedDocument } from '../signing/verifier.ts';
import { parseXmlSafely } from '../xml/safe-parse.ts';
import type { AuditPendingSpool } from './audit-pending-spool.ts';
import { checkDeclaredCharset } from './declared-charset.ts';
import { InFlightPublishes, PublishDoubts } from './ingress-audit-recovery.ts';
import { MessageIdClaims, messageIdInFlight } from './message-id-claims.ts';
import {
  AuditPendingError,
  ingressKeyPrefix,
  keyIngressEntries,
  PublishedAudit,
  type PublishedEntries,
} from './published-audit.ts';
import { settledWithin } from './settled-within.ts';

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
  /** Stage latencies and outcome counts (observability/pipeline.ts); absent in bare unit setups. */
  instruments?: PipelineInstruments;
  /** True if a message with this nachrichtenUUID was accepted before (replay protection). */
  alreadyAccepted(messageId: string): Promise<boolean>;
  /**
   * Claims shared with the other processes of the installation (PostgreSQL), asked after this
   * process's own; absent where there is one process (SQLite).
   */
  sharedClaims?: SharedMessageIdClaims;
  /** How long a request waits for another one holding one of its ids (config messageIdWaitMs). */
  messageIdWaitMs: number;
  /**
   * Verifies the enveloped signature of a sending system on a standard document, against that
   * system's pinned certificate; `parsed` is the document as the ingress parsed it (parseXmlSafely),
   * so that it is not parsed twice. Throws GW_ERR_SIGNATURE_INVALID.
   */
  verifySender(xml: string, systemId: string, parsed: Document): Promise<VerifiedDocument>;
  /**
   * How long a request waits for its audit entries when their first append after the publish
   * failed (published-audit.ts); default 5 s.
   */
  auditWithinRequestMs?: number;
  /** Keeps pending audit entries across a crash or a stop (audit-pending-spool.ts); absent, in memory only. */
  auditSpool?: AuditPendingSpool;
  /**
   * The chain `audit` appends to, named on every record published (HEADER.auditChain), so that the
   * next start can write the entries of a record whose append a crash cut off
   * (ingress-audit-recovery.ts); absent, records name none and are never recovered.
   */
  auditChain?: string;
}

export interface NativeRequest {
  systemId: string;
  body: Buffer;
  contentType: string;
  requestId: string;
  traceparent?: string;
  tracestate?: string;
}

/** A document already in a catalogued standard (POST /v1/messages); the system is the caller's. */
export type StandardRequest = NativeRequest;

export interface AcceptedMessage {
  messageId: string;
  /** The message type as received. */
  messageType: string;
  receiverSystem: string;
  /** The message type the receiver gets, when the gateway converted the message to another version. */
  convertedTo?: string;
}

/** Media types of standard documents on POST /v1/messages. */
export const STANDARD_MEDIA_TYPES = ['application/xml', 'text/xml'] as const;

/** The sender's own signature on a standard document: kept as evidence (its digest is audited). */
interface SenderSignature {
  /** Hex SHA-256 of the document exactly as the sender signed and sent it. */
  digest: string;
  signerSerial: string;
}

interface Decoded {
  messages: DecodedMessage[];
  senderSignature?: SenderSignature;
}

/** A routed message, signed: the bytes on the bus and their digest. */
interface Sealed extends Routed {
  bytes: Buffer;
  digest: string;
}

interface Routed {
  /** The message type as received. */
  received: MessageTypeSpec;
  /** The message type as sealed and delivered (differs from `received` after a conversion). */
  spec: MessageTypeSpec;
  message: XoevMessage;
  receiver: SystemEntry;
  conversion?: Conversion;
}

function mediaType(contentType: string): string {
  return contentType.split(';')[0]!.trim().toLowerCase();
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export class Ingress {
  /** The ids of the requests in this ingress right now (replay protection while `accepted` is unwritten). */
  private readonly claims = new MessageIdClaims();

  /** The audit entries of published messages that did not land at the first append. */
  private readonly publishedAudit: PublishedAudit;

  /** Publishes whose entries have not landed or been spooled yet: the ingress audit bookmark waits for them. */
  readonly inFlightPublishes = new InFlightPublishes();
  /** Failed publishes whose records may land all the same (ingress-audit-recovery.ts). */
  readonly publishDoubts = new PublishDoubts();

  /** Ids whose spooled entries the store still refused at start: pending, not to be recovered again. */
  private readonly resumedPending = new Set<string>();

  constructor(private readonly deps: IngressDeps) {
    this.publishedAudit = new PublishedAudit({
      audit: deps.audit,
      logger: deps.logger,
      withinRequestMs: deps.auditWithinRequestMs ?? 5_000,
      ...(deps.auditSpool ? { spool: deps.auditSpool } : {}),
      onResumedLanded: (messages) => deps.instruments?.outcome('accepted', messages),
    });
  }

  /**
   * At start-up, before messages are taken: writes the audit entries of published messages that an
   * earlier run left in the spool. Those the store still refuses are held like a live request's
   * (AuditPendingError below): a resend waits for them and is then refused as accepted.
   */
  async resumeSpooledAudit(): Promise<void> {
    for (const pending of await this.publishedAudit.resumeSpooled()) this.holdUntilLanded(pending);
  }

  /** Whether a message needs no entries recovered from its bus record: accepted, or pending (spool). */
  async isAuditedOrPending(messageId: string): Promise<boolean> {
    return this.resumedPending.has(messageId) || (await this.deps.alreadyAccepted(messageId));
  }

  /**
   * At start-up, before messages are taken: appends the entries of a published message recovered
   * from its bus record (ingress-audit-recovery.ts). Resolves once they landed, or are spooled and
   * appended on in the background (the id held until they land, as for the spool's).
   */
  async appendRecovered(batch: PublishedEntries): Promise<void> {
    try {
      await this.deps.audit.recordMany(batch.entries);
      this.deps.instruments?.outcome('accepted', batch.messageIds.length);
    } catch (error) {
      try {
        await this.publishedAudit.retry(batch, error);
        this.deps.instruments?.outcome('accepted', batch.messageIds.length);
      } catch (pending) {
        if (!(pending instanceof AuditPendingError)) throw pending;
        this.holdUntilLanded({ messageIds: batch.messageIds, landed: pending.landed });
      }
    }
  }

  /**
   * While messages are taken (a check after a publish the bus did not confirm): as appendRecovered,
   * but under the message's id claims, as a request would, so that a resend of it (in this process
   * or, with PostgreSQL, another) and this cannot both write `accepted`: a resend under way is waited
   * for (bounded: past it, the error makes the bus hand the record again later), and one that got
   * the id accepted leaves nothing to write. Resolves with whether the entries were written.
   */
  async appendRecoveredWhileRunning(batch: PublishedEntries): Promise<boolean> {
    let claims: ClaimedIds;
    try {
      claims = await this.claimIds([...batch.messageIds]);
    } catch (error) {
      if (isGatewayError(error) && error.code === 'GW_ERR_DUPLICATE_MESSAGE') return false;
      throw error;
    }
    let written = false;
    try {
      if (await this.isAuditedOrPending(batch.messageIds[0]!)) return false;
      await claims.confirm();
      await this.appendRecovered(batch);
      written = true;
      return true;
    } finally {
      claims.release({ accepted: written });
    }
  }

  /** Holds ids whose entries are pending across a restart until they land. */
  private holdUntilLanded(pending: { messageIds: readonly string[]; landed: Promise<boolean> }): void {
    for (const id of pending.messageIds) {
      this.resumedPending.add(id);
      // One by one: an id in two spooled requests is held by the first already.
      const claim = this.claims.claim([id]);
      if (claim.claimed) void pending.landed.then(() => claim.release());
    }
  }

  /** At shutdown: waits (bounded) for the audit entries of published messages still pending. */
  settleAudit(timeoutMs?: number): Promise<void> {
    return this.publishedAudit.settle(timeoutMs);
  }

  /** A native payload: the sender system's adapter decodes it into one or more standard messages. */
  acceptNative(request: NativeRequest): Promise<AcceptedMessage[]> {
    return this.accept(request, async (system) => {
      const adapter = this.deps.adapters.get(system.adapter);
      if (!adapter)
        throw new GatewayError(
          'GW_ERR_INTERNAL',
          `adapter ${system.adapter} of ${system.id} is not installed`,
        );
      this.checkMediaType(adapter, request.contentType);
      return {
        messages: adapter.decode(
          { body: request.body, contentType: mediaType(request.contentType) },
          this.deps.adapterContext,
        ),
      };
    });
  }

  /**
   * A document already in a catalogued standard, found by its root element. If it carries the
   * sender's enveloped signature, the signature must verify against the sending system's pinned
   * certificate, and the message is read from the verified element only.
   */
  acceptStandard(request: StandardRequest): Promise<AcceptedMessage[]> {
    return this.accept(request, async (system) => {
      const type = mediaType(request.contentType);
      if (!(STANDARD_MEDIA_TYPES as readonly string[]).includes(type)) {
        throw new GatewayError(
          'GW_ERR_UNSUPPORTED_MEDIA_TYPE',
          `standard documents are ${STANDARD_MEDIA_TYPES.join(' or ')}, not ${type || '(none)'}`,
        );
      }
      checkDeclaredCharset(request.contentType, 'utf-8', 'the standard door');
      const xml = utf8Document(request.body);
      const document = parseXmlSafely(xml);
      let root: Element = document.documentElement;
      let senderSignature: SenderSignature | undefined;
      if (root.getElementsByTagNameNS(XMLDSIG_NAMESPACE, 'Signature').length > 0) {
        const verified = await this.deps.verifySender(xml, system.id, document);
        root = verified.root;
        senderSignature = { digest: verified.digest, signerSerial: verified.signer.serial };
      }
      const spec = catalogue.byRoot(root.namespaceURI, root.localName ?? '');
      if (!spec) {
        throw new GatewayError(
          'GW_ERR_UNKNOWN_STANDARD',
          `{${root.namespaceURI ?? ''}}${root.localName} is not the root element of a catalogued message type`,
          { errors: [{ pointer: '', detail: 'unknown root element' }] },
        );
      }
      return {
        messages: [{ spec, message: fromElement(spec, root), nativeRef: `/${root.localName}` }],
        senderSignature,
      };
    });
  }

  /** Everything both doors share: routing, replay protection, sealing, publishing, auditing. */
  private async accept(
    request: NativeRequest,
    decode: (system: SystemEntry) => Promise<Decoded>,
  ): Promise<AcceptedMessage[]> {
    const { deps } = this;
    const actor = `system:${request.systemId}`;
    let messageIds: string[] = [];
    let claim: ClaimedIds | undefined;
    let accepted = false;
    try {
      const system = deps.directory().system(request.systemId);
      // Both doors reach here with the certificate's system: one the directory does not (or no longer)
      // list is refused like any other certificate without a right to send (deny by default), the
      // same 403 on both doors, so that no answer tells a caller which systems the directory lists.
      if (!system)
        throw new GatewayError(
          'GW_ERR_CLIENT_CERT_FORBIDDEN',
          `the certificate names ${request.systemId}, which the directory does not list`,
        );
      const decodeStarted = stageStart();
      const decoded = await decode(system);
      deps.instruments?.stage('ingress.decode', decodeStarted);
      if (decoded.messages.length === 0)
        throw new GatewayError('GW_ERR_MAPPING_FAILED', 'the payload contains no message');
      const batch = decoded.messages.length > 1;
      const validateStarted = stageStart();
      const valid = decoded.messages.map((d) => ({ spec: d.spec, message: validated(d, batch) }));
      deps.instruments?.stage('ingress.validate', validateStarted);
      // From here on, a rejection is audited under the message's own id.
      messageIds = valid.map((v) => header(v.message)['identifikation.nachricht'].nachrichtenUUID);
      const routed = valid.map((v) =>
        this.route(system, v.spec, v.message, request.body.length, decoded.senderSignature !== undefined),
      );
      claim = await this.claimIds(messageIds);
      await this.rejectReplays(messageIds);
      // Fencing: a claim lost while this request stalled (another process may have accepted the ids
      // meanwhile) publishes nothing. What remains unfenced is the seal and the publish after this
      // (about a millisecond and the bus's round trip), which the confirm's margin covers.
      await claim.confirm();
      // The messages are new from here on: a failure on the gateway's side (5xx) is each one's `failed`.
      try {
        const messages = await this.sealAndPublish(system, routed, request, actor, decoded.senderSignature);
        accepted = true;
        return messages;
      } catch (error) {
        if (error instanceof AuditPendingError) {
          // Published: neither failed nor refused. The claims are held until the entries landed, so
          // that a retry waits and is then refused by the store, instead of being published again.
          markAudited(error);
          deps.instruments?.outcome('audit-pending', messageIds.length);
          const held = claim;
          claim = undefined;
          // Given up at shutdown (false), they are still on the bus: accepted, not free for a resend.
          void error.landed.then((landed) => {
            if (landed) deps.instruments?.outcome('accepted', messageIds.length);
            held?.release({ accepted: true });
          });
          throw error;
        }
        const messages = routed.map((r) => {
          const h = header(r.message);
          return {
            messageId: h['identifikation.nachricht'].nachrichtenUUID,
            sender: h.autor.kennung,
            receiver: h.leser.kennung,
            receiverSystem: r.receiver.id,
            messageType: r.received.id,
          };
        });
        const failure = { actor, senderSystem: system.id, requestId: request.requestId, messages };
        await auditFailure(deps.audit, deps.logger, failure, error);
        throw error;
      }
    } catch (error) {
      if (error instanceof GatewayError) {
        await auditRejection(
          deps.audit,
          deps.logger,
          {
            actor,
            messageId: messageIds[0] ?? request.requestId,
            senderSystem: request.systemId,
            detail: { code: error.code, requestId: request.requestId, messages: messageIds.length },
          },
          error,
          // A batch is refused as a whole: every message of it has the refusal in its trail.
          messageIds.slice(1),
        );
      }
      throw error;
    } finally {
      // Accepted: `accepted` is in the store, which refuses the ids from now on. Refused or failed:
      // the ids are free again for the sender's retry.
      claim?.release({ accepted });
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
    checkDeclaredCharset(contentType, adapter.spec.decodes.charset, adapter.spec.id);
  }

  /**
   * Deny-by-default routing of a validated message: the sender must serve its authority and a
   * contract must allow the route; then the version bridge, if the receiver does not accept the
   * message's version.
   */
  private route(
    system: SystemEntry,
    spec: MessageTypeSpec,
    message: XoevMessage,
    bytes: number,
    senderSigned: boolean,
  ): Routed {
    const { deps } = this;
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
      standard: spec.standard,
      messageType: spec.name,
    });
    if (!contract) {
      throw new GatewayError(
        'GW_ERR_CONTRACT_VIOLATION',
        `no contract allows ${system.id} (${sender}) to send ${spec.name} to ${receiverAuthority}`,
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
    if (contract.requirements.signature === 'sender-and-gateway' && !senderSigned) {
      throw new GatewayError(
        'GW_ERR_SIGNATURE_REQUIRED',
        `contract ${contract.id} requires the sender's signature: send the signed standard document to POST /v1/messages`,
      );
    }
    const conversion = this.bridge(spec, message, receiver);
    return {
      received: spec,
      spec: conversion?.to ?? spec,
      message: conversion?.message ?? message,
      receiver,
      conversion,
    };
  }

  /** Converts the message to a version the receiver accepts, if it needs to be (standards/version-bridge.ts). */
  private bridge(spec: MessageTypeSpec, message: XoevMessage, receiver: SystemEntry): Conversion | undefined {
    const accepted = receiver.accepts.find((a) => a.standard === spec.standard);
    try {
      return versionBridge.bridge(spec, message, accepted?.versions ?? []);
    } catch (error) {
      if (isGatewayError(error) && error.code === 'GW_ERR_VERSION_NOT_ACCEPTED') {
        throw new GatewayError(
          'GW_ERR_VERSION_NOT_ACCEPTED',
          accepted
            ? `${receiver.id} accepts ${spec.standard} ${accepted.versions.join(', ')}, not ${spec.version}, and no converter bridges them`
            : `${receiver.id} does not accept ${spec.standard}`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /**
   * Claims the request's ids against other requests in this process (message-id-claims.ts), then
   * against the other processes (sharedClaims), before the store is asked. An id another request
   * holds is being accepted right now: that request's answer decides this one's, so this one waits
   * for it and tries again (accepted: the store refuses the id below; refused or failed: the id is
   * this request's to try). Waiting, not 409: 409 says "already accepted", and the holder may fail.
   * Another process's claim may also be one whose request was accepted and which is left to expire:
   * the store is asked before waiting for it.
   */
  private async claimIds(messageIds: string[]): Promise<ClaimedIds> {
    // One bound for both waits: past it, 503 GW_ERR_MESSAGE_ID_IN_FLIGHT, and the sender retries.
    const waitMs = this.deps.messageIdWaitMs;
    const waitUntil = performance.now() + waitMs;
    let local: ClaimedIds & { release(): void };
    for (;;) {
      const claim = this.claims.claim(messageIds);
      if (claim.claimed) {
        local = claim;
        break;
      }
      if (!claim.released)
        throw duplicateMessage(`nachrichtenUUID ${claim.heldId} occurs more than once in the request`);
      if (!(await settledWithin(claim.released, waitUntil - performance.now())))
        throw messageIdInFlight(claim.heldId, waitMs);
    }
    const shared = this.deps.sharedClaims;
    if (!shared) return local;
    let lease: SharedMessageIdLease;
    try {
      lease = await shared.claim(messageIds, () => this.rejectReplays(messageIds), { waitUntil });
    } catch (error) {
      local.release();
      throw error;
    }
    return {
      confirm: () => lease.confirm(),
      // Off the answer's path; the ids stay claimed here until the shared claim is deleted, so that
      // a request of this process waiting for them does not meet this one's claim in the database
      // (accepted, the row is left to expire: such a request takes it over and is refused by the store).
      release: (outcome) => {
        shared
          .release(messageIds, outcome)
          .catch((err: unknown) =>
            this.deps.logger.warn(
              { err, messageId: messageIds[0] },
              'could not release the message id claims',
            ),
          )
          .finally(() => local.release());
      },
    };
  }

  /** Refuses ids accepted before; called while the request holds their claims. */
  private async rejectReplays(messageIds: string[]): Promise<void> {
    for (const id of messageIds) {
      if (await this.deps.alreadyAccepted(id))
        throw duplicateMessage(`nachrichtenUUID ${id} was already accepted`);
    }
  }

  private async sealAndPublish(
    system: SystemEntry,
    routed: Routed[],
    request: NativeRequest,
    actor: string,
    senderSignature: SenderSignature | undefined,
  ): Promise<AcceptedMessage[]> {
    const { deps } = this;
    if (this.publishedAudit.isFull()) {
      throw new GatewayError(
        'GW_ERR_NOT_READY',
        `the audit entries of ${this.publishedAudit.pendingCount} published messages are still being written; nothing accepted, retry later`,
        { headers: { 'retry-after': '5' } },
      );
    }
    const sealed: Sealed[] = await Promise.all(
      routed.map(async (r) => {
        const signStarted = stageStart();
        const signed = await deps.sealer.sign(toCanonicalXml(r.spec, r.message));
        deps.instruments?.stage('ingress.sign', signStarted);
        // Encoded once: the bytes on the bus are the bytes the digest is of.
        const bytes = Buffer.from(signed, 'utf8');
        return { ...r, bytes, digest: sha256(bytes) };
      }),
    );
    // Keyed before the publish: each record names its entries' keys (ingress-audit-recovery.ts).
    const keyPrefix = ingressKeyPrefix(request.requestId);
    let firstKey = 0;
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
      if (deps.auditChain !== undefined) {
        headers[HEADER.auditChain] = deps.auditChain;
        headers[HEADER.auditKey] = keyPrefix + firstKey;
      }
      // received, accepted, [converted], signed, queued: as built below.
      firstKey += s.conversion ? 5 : 4;
      if (s.conversion) headers[HEADER.receivedType] = s.received.id;
      if (senderSignature) {
        headers[HEADER.senderSignatureDigest] = senderSignature.digest;
        headers[HEADER.senderSignerSerial] = senderSignature.signerSerial;
      }
      if (request.traceparent) headers[HEADER.traceparent] = request.traceparent;
      if (request.traceparent && request.tracestate) headers[HEADER.tracestate] = request.tracestate;
      return {
        topic: deliverTopic(deps.topicPrefix, s.receiver.id),
        // The case key keeps a message and its answers in one partition, in order.
        key: h.referenzUUID ?? h['identifikation.nachricht'].nachrichtenUUID,
        value: s.bytes,
        headers,
      };
    });
    // Left once the entries landed or are spooled (or nothing was published): until then the ingress
    // audit bookmark does not move past these records (ingress-audit-recovery.ts).
    const publishing = this.inFlightPublishes.enter();
    try {
      return await this.publishAndAudit(records, sealed, system, request, actor, senderSignature, keyPrefix);
    } finally {
      this.inFlightPublishes.leave(publishing);
    }
  }

  private async publishAndAudit(
    records: BusRecord[],
    sealed: Sealed[],
    system: SystemEntry,
    request: NativeRequest,
    actor: string,
    senderSignature: SenderSignature | undefined,
    keyPrefix: string,
  ): Promise<AcceptedMessage[]> {
    const { deps } = this;
    try {
      const publishStarted = stageStart();
      await deps.bus.publish(records);
      deps.instruments?.stage('ingress.publish', publishStarted);
    } catch (cause) {
      // Before the publishing token is left: the bookmark must not move past a record still landing.
      this.publishDoubts.add(publishSettled(cause));
      deps.logger.error(
        { err: cause, requestId: request.requestId, traceId: traceIdOf(request.traceparent) },
        'bus publish failed; not accepted, unless its records land all the same (then audited from the bus)',
      );
      throw new GatewayError(
        'GW_ERR_BUS_UNAVAILABLE',
        'the message bus did not confirm the message; retry later',
        {
          headers: { 'retry-after': '5' },
          cause,
        },
      );
    }
    const { requestId } = request;
    const entries: AuditRecordInput[] = sealed.flatMap((s) => {
      const h = header(s.message);
      const common = {
        actor,
        messageId: h['identifikation.nachricht'].nachrichtenUUID,
        sender: h.autor.kennung,
        receiver: h.leser.kennung,
        senderSystem: system.id,
        receiverSystem: s.receiver.id,
        messageType: s.received.id,
      };
      const sealedAs = { ...common, actor: 'gateway', messageType: s.spec.id, digest: s.digest };
      return [
        {
          ...common,
          kind: 'received' as const,
          detail: {
            requestId,
            ...(senderSignature ? { senderSignature } : {}),
          },
        },
        { ...common, kind: 'accepted' as const, detail: { referenzUUID: h.referenzUUID ?? null } },
        ...(s.conversion
          ? [{ ...sealedAs, kind: 'converted' as const, detail: { from: s.received.id, to: s.spec.id } }]
          : []),
        { ...sealedAs, kind: 'signed' as const, detail: {} },
        { ...sealedAs, kind: 'queued' as const, detail: {} },
      ];
    });
    // Keyed, so that a retry of an append whose commit went through is not written twice.
    keyIngressEntries(requestId, entries, keyPrefix);
    try {
      await deps.audit.recordMany(entries);
    } catch (error) {
      // On the bus: accepted. The entries must land (retried, keyed); no `failed` for these messages.
      await this.publishedAudit.retry(
        {
          requestId,
          messageIds: sealed.map((s) => header(s.message)['identifikation.nachricht'].nachrichtenUUID),
          traceId: traceIdOf(request.traceparent),
          entries,
        },
        error,
      );
    }
    deps.instruments?.outcome('accepted', sealed.length);
    for (const s of sealed) {
      deps.logger.info(
        {
          messageId: header(s.message)['identifikation.nachricht'].nachrichtenUUID,
          traceId: traceIdOf(request.traceparent),
          type: s.spec.id,
          to: s.receiver.id,
          ...(s.conversion ? { convertedFrom: s.received.id } : {}),
          ...(senderSignature ? { senderSigned: true } : {}),
        },
        'message queued',
      );
    }
    return sealed.map((s) => ({
      messageId: header(s.message)['identifikation.nachricht'].nachrichtenUUID,
      messageType: s.received.id,
      receiverSystem: s.receiver.id,
      ...(s.conversion ? { convertedTo: s.spec.id } : {}),
    }));
  }
}

/** A request's claims on its ids; released once it is answered, saying whether it was accepted. */
interface ClaimedIds {
  /**
   * Called right before publishing: rejects with a 503 if the claims were lost (another process's
   * lease takeover after this one stalled). Undefined: still held, known without asking anyone.
   */
  confirm(): Promise<void> | undefined;
  release(outcome: { accepted: boolean }): void;
}

function duplicateMessage(detail: string): GatewayError {
  return new GatewayError('GW_ERR_DUPLICATE_MESSAGE', detail, {
    errors: [
      { pointer: '/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtenUUID', detail: 'already used' },
    ],
  });
}

/** The decoded message, validated; in a batch the error names the record it came from. */
function validated(decoded: DecodedMessage, batch: boolean): XoevMessage {
  try {
    return validateMessage(decoded.spec, decoded.message);
  } catch (error) {
    if (batch && error instanceof GatewayError) {
      throw new GatewayError(error.code, `${decoded.nativeRef}: ${error.message}`, { errors: error.errors });
    }
    throw error;
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The body as text: standard documents are UTF-8 (XÖV), and a declaration saying otherwise is refused. */
function utf8Document(body: Buffer): string {
  let xml: string;
  try {
    xml = UTF8.decode(body);
  } catch (cause) {
    throw new GatewayError('GW_ERR_MALFORMED_PAYLOAD', 'the document is not valid UTF-8', { cause });
  }
  const declared = /^\uFEFF?<\?xml[^>]*\bencoding\s*=\s*["']([^"']*)["']/.exec(xml)?.[1];
  if (declared !== undefined && declared.toLowerCase() !== 'utf-8') {
    throw new GatewayError(
      'GW_ERR_MALFORMED_PAYLOAD',
      `standard documents are UTF-8; the XML declaration says ${declared}`,
    );
  }
  return xml;
}
