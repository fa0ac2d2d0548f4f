/**
 * Receipts: when a receiving system acknowledges a message (pull: POST …/ack; push: its 2xx), the
 * sending system gets its standard's receipt (XMeld: quittung.0020) referencing the acknowledged
 * nachrichtenUUID. The gateway builds it and seals it like any message. A sender that pulls gets it
 * straight into its inbox (receipt-inbox.ts says why and when not); otherwise it is published to the
 * sender system's deliver topic, so the normal delivery stage hands it over (push, or the inbox when
 * its case waits), through the sender's adapter — see receipt-encoding.ts for adapters that do not
 * map receipts. Trail: accepted, signed, then delivered (inbox) or queued (bus) — written right
 * after the inbox row or the publish, so that what a crash leaves in between is issued again at the
 * next start (catch-up: no `accepted` yet), never audited without having happened.
 *
 * Issued again, a receipt is not sealed again if the sender already has it: the second seal would
 * have other bytes (signature, creation time), and a trail naming that digest would name a document
 * the sender never got. A pull inbox that holds it (receipt-inbox.ts, `held`) gives its bytes and
 * digest; a `delivered` of it in the audit log (the delivery stage handed a published one over) gives
 * the digest. What is still on the bus unconsumed cannot be seen from here, so a receipt for the bus
 * is archived before its publish (receipt-archive.ts): a re-issue that finds a version in the
 * archive publishes exactly those bytes again, with their digest, and its trail names that digest
 * — the delivery ledger or the inbox drops whichever copy comes second, and both are the same
 * document. Without the archive (audit.archiveDocuments off, or it could not be written or read)
 * such a receipt is sealed anew: the sender gets the first version, the trail names the second.
 *
 * Idempotent: the receipt's id is derived from the acknowledged id (receipt-id.ts); an id already
 * `accepted` in the audit log is not issued again, and should two processes race past that check,
 * the delivery ledger still hands the sender one receipt (one delivery per nachrichtenUUID).
 * Never fails the acknowledgement: errors are logged with the message id, and `issue` resolves.
 *
 * One trail per receipt: a process that finds the receipt handed over but no trail (completeTrail)
 * cannot tell an issuer that crashed from one whose append is still under way (a slow group commit,
 * PostgreSQL restarting) — the catch-up of a replica starting meanwhile meets exactly that. So every
 * trail event carries an idempotency key of its acknowledgement and kind (trailKey) and goes to the
 * chain of that `acknowledged` entry, the one chain every issuer of that receipt is handed: the
 * second trail to arrive writes nothing (the chain's unique keys), whichever of the two it is. That
 * chain is the issuing process's own in the common case (it just appended the acknowledgement), so
 * the hot path gains no writer on a foreign chain.
 */

import { createHash } from 'node:crypto';
import type { MessageTypeSpec } from '../../standards/catalogue.ts';
import { catalogue } from '../../standards/index.ts';
import { toCanonicalXml } from '../../standards/xoev/xml-codec.ts';
import type { AuditLog, AuditRecordInput } from '../audit/audit-log.ts';
import { deliverTopic, HEADER } from '../bus/topics.ts';
import type { Directory } from '../directory/directory.ts';
import { GATEWAY_INSTANCE } from '../log/instance.ts';
import { forMessage, type Logger } from '../log/logger.ts';
import type { DocumentSealer } from '../pipeline/ingress.ts';
import type { AuditEntry } from '../ports/audit-store.ts';
import type { Bus } from '../ports/bus.ts';
import { buildReceipt } from './build-receipt.ts';
import type { ReceiptArchive } from './receipt-archive.ts';
import { receiptIdFor } from './receipt-id.ts';
import type { ReceiptInbox } from './receipt-inbox.ts';
import { isReceiptType, receiptTypeFor } from './receipt-type.ts';

export interface ReceiptIssuerDeps {
  directory: () => Directory;
  sealer: DocumentSealer;
  bus: Bus;
  audit: AuditLog;
  topicPrefix: string;
  logger: Logger;
  now?: () => Date;
  /** Receipts for pull senders go straight into their inbox (receipt-inbox.ts); absent: all over the bus. */
  inbox?: ReceiptInbox;
  /** Receipts for the bus are archived before their publish and read back on a re-issue; absent: no archive. */
  archive?: ReceiptArchive;
}

/** What every event of a receipt's trail names. */
interface ReceiptCommon {
  actor: string;
  messageId: string;
  sender: string;
  receiver: string;
  senderSystem: string;
  receiverSystem: string;
  messageType: string;
}

export type ReceiptOutcome =
  | { issued: true; receiptId: string }
  | {
      issued: false;
      reason: 'not-applicable' | 'already-issued' | 'no-receipt-type' | 'error';
      receiptId?: string;
    };

/**
 * The idempotency key of a receipt's trail event on the chain of the acknowledgement it answers:
 * one per acknowledgement (its seq names it on that chain) and kind, whoever writes it. The seq, of
 * fixed width, leads so that the keys are inserted in ascending order, at the right edge of the
 * stores' unique key index (published-audit.ts keyIngressEntries says what scattered keys cost).
 */
export function trailKey(acknowledged: Pick<AuditEntry, 'seq'>, kind: AuditRecordInput['kind']): string {
  return `receipt/${acknowledged.seq.toString(36).padStart(11, '0')}/${kind}`;
}

function keyed(acknowledged: AuditEntry, trail: AuditRecordInput[]): AuditRecordInput[] {
  return trail.map((event) => ({ ...event, idempotencyKey: trailKey(acknowledged, event.kind) }));
}

export class ReceiptIssuer {
  private readonly now: () => Date;
  /** Receipts being issued by this process right now (a repeated ack while the first is in flight). */
  private readonly inFlight = new Map<string, Promise<ReceiptOutcome>>();

  constructor(private readonly deps: ReceiptIssuerDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** Resolves when no receipt of this process is being issued (stop()). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight.values()]);
  }

  /** Reacts to an `acknowledged` audit entry; anything else is ignored. */
  issueFor(entry: AuditEntry): Promise<ReceiptOutcome> {
    if (
      entry.kind !== 'acknowledged' ||
      !entry.messageId ||
      !entry.senderSystem ||
      !entry.messageType ||
      !entry.sender ||
      !entry.receiver ||
      isReceiptType(entry.messageType)
    )
      return Promise.resolve({ issued: false, reason: 'not-applicable' });
    const running = this.inFlight.get(entry.messageId);
    if (running) return running;
    const work = this.issue(entry).finally(() => this.inFlight.delete(entry.messageId!));
    this.inFlight.set(entry.messageId, work);
    return work;
  }

  private async issue(entry: AuditEntry): Promise<ReceiptOutcome> {
    const { deps } = this;
    const acknowledgedId = entry.messageId!;
    const receiptId = receiptIdFor(acknowledgedId);
    const log = forMessage(deps.logger, acknowledgedId, { receiptId });
    try {
      const original = catalogue.byId(entry.messageType!);
      const directory = deps.directory();
      const senderSystem = directory.system(entry.senderSystem!);
      const receiverSystem = entry.receiverSystem ? directory.system(entry.receiverSystem) : undefined;
      if (!original || !senderSystem) {
        log.warn({ senderSystem: entry.senderSystem }, 'no receipt: sender system or message type unknown');
        return { issued: false, reason: 'not-applicable' };
      }
      const accepted = senderSystem.accepts.find((a) => a.standard === original.standard)?.versions ?? [];
      const type = receiptTypeFor(original.standard, original.version, accepted);
      if (!type) {
        log.info(
          { standard: original.standard },
          'no receipt: the standard has no receipt type the sender accepts',
        );
        return { issued: false, reason: 'no-receipt-type' };
      }
      if (await deps.audit.store.hasEvent(receiptId, 'accepted'))
        return { issued: false, reason: 'already-issued', receiptId };

      // On the receiver's behalf: the receipt travels from the acknowledging system to the sender.
      const onBehalfOf = entry.receiverSystem ?? 'gateway';
      const common = {
        actor: 'gateway',
        messageId: receiptId,
        sender: entry.receiver!,
        receiver: entry.sender!,
        senderSystem: onBehalfOf,
        receiverSystem: senderSystem.id,
        messageType: type.id,
      };
      const acceptedEvent = {
        ...common,
        kind: 'accepted' as const,
        detail: { referenzUUID: acknowledgedId, receiptFor: acknowledgedId },
      };
      // The acknowledgement's chain, keyed: one trail whoever writes it (see the header).
      const trail = deps.audit.withChain(entry.chain);
      const carryOn = (held: { digest: string }) =>
        this.completeTrail(trail, entry, common, acceptedEvent, held.digest, log);

      // A pull inbox keeps what it got (acknowledged or not): its row answers for every route there.
      const pullInbox = deps.inbox !== undefined && senderSystem.delivery.mode === 'pull';
      const held = pullInbox
        ? await deps.inbox?.held(senderSystem, receiptId, log)
        : await this.handedOverOnTheBus(receiptId);
      if (held) return await carryOn(held);
      const publish = (signed: string, digest: string) =>
        this.publishAndQueue(
          trail,
          entry,
          { common, accepted: acceptedEvent, type, acknowledgedId },
          signed,
          digest,
          log,
        );
      // Archived before a publish whose trail a crash prevented: that version may be on the bus.
      const published = await deps.archive?.firstVersion(receiptId, log);
      if (published) {
        log.info({ to: senderSystem.id }, 'receipt published before its trail: the same version again');
        return await publish(published.signed, published.digest);
      }

      const message = buildReceipt({
        type,
        receiptId,
        referenzUUID: acknowledgedId,
        leser: { kennung: entry.sender!, name: senderSystem.title },
        autor: { kennung: entry.receiver!, name: receiverSystem?.title ?? entry.receiver! },
        acknowledgedAt: new Date(entry.time),
        now: this.now(),
      });
      const signed = await deps.sealer.sign(toCanonicalXml(type, message));
      const digest = createHash('sha256').update(signed, 'utf8').digest('hex');
      const sealed = {
        receiptId,
        acknowledgedId,
        type,
        message,
        signed,
        digest,
        senderAuthority: entry.receiver!,
        receiverAuthority: entry.sender!,
        onBehalfOf,
      };
      const inInbox = await deps.inbox?.put(senderSystem, sealed, log);
      if (inInbox?.putBefore) {
        log.info({ to: senderSystem.id }, 'receipt put into the inbox by another process meanwhile');
        return { issued: false, reason: 'already-issued', receiptId };
      }
      if (inInbox?.stored) {
        await trail.recordMany(
          keyed(entry, [
            acceptedEvent,
            { ...common, kind: 'signed', digest, detail: {} },
            {
              ...common,
              kind: 'delivered',
              digest,
              detail: { mode: 'pull', route: 'inbox', instance: GATEWAY_INSTANCE },
            },
          ]),
        );
        log.info({ type: type.id, to: senderSystem.id }, 'receipt put into the inbox');
        return { issued: true, receiptId };
      }
      // Before the publish: a crash before the trail leaves this version for the re-issue to find.
      // Not archived (the archiver logs why): published all the same, as before receipts were.
      await deps.archive?.keep(sealed);
      return await publish(signed, digest);
    } catch (error) {
      // The acknowledgement stands; the receipt is missing and the log says so.
      log.error({ err: error }, 'receipt could not be issued');
      return { issued: false, reason: 'error', receiptId };
    }
  }

  /** Publishes the receipt to the sender system's deliver topic, then writes its trail. */
  private async publishAndQueue(
    trail: AuditLog,
    acknowledged: AuditEntry,
    receipt: {
      common: ReceiptCommon;
      accepted: AuditRecordInput;
      type: MessageTypeSpec;
      acknowledgedId: string;
    },
    signed: string,
    digest: string,
    log: Logger,
  ): Promise<ReceiptOutcome> {
    const { deps } = this;
    const { common, type, acknowledgedId } = receipt;
    await deps.bus.publish([
      {
        topic: deliverTopic(deps.topicPrefix, common.receiverSystem),
        // The case key of the acknowledged message: its receipt follows it in the same partition.
        key: acknowledgedId,
        value: Buffer.from(signed, 'utf8'),
        headers: {
          [HEADER.messageId]: common.messageId,
          [HEADER.messageType]: type.id,
          [HEADER.standardVersion]: `${type.standard}:${type.version}`,
          [HEADER.sender]: common.sender,
          [HEADER.receiver]: common.receiver,
          [HEADER.senderSystem]: common.senderSystem,
          [HEADER.receiverSystem]: common.receiverSystem,
          [HEADER.digest]: digest,
          [HEADER.requestId]: `receipt:${acknowledgedId}`,
        },
      },
    ]);
    await trail.recordMany(
      keyed(acknowledged, [
        receipt.accepted,
        { ...common, kind: 'signed', digest, detail: {} },
        { ...common, kind: 'queued', digest, detail: {} },
      ]),
    );
    log.info({ type: type.id, to: common.receiverSystem }, 'receipt queued');
    return { issued: true, receiptId: common.messageId };
  }

  /** The digest the delivery stage audited for a receipt it pushed (the bytes are its to archive). */
  private async handedOverOnTheBus(receiptId: string): Promise<{ digest: string } | undefined> {
    const [delivered] = await this.deps.audit.store.query({
      messageId: receiptId,
      kind: 'delivered',
      limit: 1,
    });
    return delivered?.digest ? { digest: delivered.digest } : undefined;
  }

  /**
   * The trail of a receipt the sender already has, left unfinished by the process that issued it:
   * accepted, signed, and queued (the delivery stage handed it over from the bus and audited its
   * `delivered`) or delivered (put into the inbox directly, `delivered` not written yet) — all with
   * the digest of the document the sender has.
   */
  private async completeTrail(
    trailLog: AuditLog,
    acknowledged: AuditEntry,
    common: ReceiptCommon,
    accepted: AuditRecordInput,
    digest: string,
    log: Logger,
  ): Promise<ReceiptOutcome> {
    const [delivered] = await this.deps.audit.store.query({
      messageId: common.messageId,
      kind: 'delivered',
      limit: 1,
    });
    const trail: AuditRecordInput[] = [accepted, { ...common, kind: 'signed', digest, detail: {} }];
    if (!delivered) {
      const detail = { mode: 'pull', route: 'inbox', recovered: true, instance: GATEWAY_INSTANCE };
      trail.push({ ...common, kind: 'delivered', digest, detail });
    } else if (delivered.detail.route !== 'inbox') {
      trail.push({ ...common, kind: 'queued', digest, detail: {} });
    }
    await trailLog.recordMany(keyed(acknowledged, trail));
    log.info({ to: common.receiverSystem }, 'receipt the sender already has: its trail completed');
    return { issued: true, receiptId: common.messageId };
  }
}
