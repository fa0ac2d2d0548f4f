/**
 * Receipts for senders that pull: straight into their inbox, not over the bus.
 *
 * A receipt is the gateway's own document, built and sealed in this process. The bus hop that a
 * system's message needs — durable hand-over between processes, a consumer that verifies the seal
 * because the bytes crossed a broker, retries while a receiver is down — buys a pull inbox nothing:
 * the inbox (MailboxStore) is as durable as the bus, cannot be "down" in a way a retry topic would
 * wait out any better, and the document never leaves the process between sealing and storing. On
 * the bus, a receipt cost as much as the message it acknowledges (publish, consume, offset commit,
 * seal check, parse and schema check of the sealed bytes, case-order look-up, one more audit event).
 *
 * What stays the same: the sender's adapter encodes the receipt (receipt-encoding.ts's fallback for
 * adapters that do not map receipts), the sealed document is archived, the inbox dedupes by id, and
 * the `delivered` metric counts it. Order: a receipt takes this path only while no earlier record of
 * its case waits for the sender (a case ticket, case-order.ts); otherwise it goes over the bus and
 * queues behind it like any record of the case. Push senders always get theirs over the bus
 * (retries, circuit breaker, ledger).
 *
 * What the inbox holds is the receipt: a receipt found there (put by a process that crashed before
 * its trail, or by one writing its trail right now) is carried on with as it is — its bytes archived,
 * its digest audited — never sealed anew. A second seal has other bytes (signature, creation time),
 * and auditing or archiving those would name a document the sender does not have. Hence also the
 * order: the inbox row first, then the archive of the version that is in it.
 *
 * `put` never throws: anything that goes wrong answers `stored: false`, and the issuer falls back to
 * the bus.
 *
 * Archiving goes through receipt-archive.ts, which also keeps the receipts the bus carries.
 */
import type { AdapterContext } from '../../adapters/sdk/adapter.ts';
import type { AdapterRegistry } from '../../adapters/sdk/registry.ts';
import { catalogue } from '../../standards/index.ts';
import type { SystemEntry } from '../directory/directory.ts';
import type { Logger } from '../log/logger.ts';
import { type PipelineInstruments, stageStart } from '../observability/pipeline.ts';
import type { InboxItem, MailboxStore } from '../ports/mailbox-store.ts';
import type { ReceiptArchive } from './receipt-archive.ts';
import type { ReceiptVersion, SealedReceipt } from './sealed-receipt.ts';

export interface ReceiptInboxDeps {
  mailbox: MailboxStore;
  /** The registry with the receipt fallback (registryWithReceiptFallback). */
  adapters: AdapterRegistry;
  adapterContext: AdapterContext;
  /** Absent: audit.archiveDocuments is off. */
  archive?: ReceiptArchive;
  instruments?: PipelineInstruments;
  now?: () => Date;
}

/**
 * `stored`: put into the inbox now, its trail is the caller's to write. `putBefore`: another process
 * put it there since the caller looked (`held`): that version is the receipt, this one is dropped.
 * Otherwise the bus carries it.
 */
export type InboxOutcome =
  | { stored: true; putBefore?: false }
  | { stored: false; putBefore: true }
  | { stored: false; putBefore?: false; reason: string };

export class ReceiptInbox {
  private readonly now: () => Date;

  constructor(private readonly deps: ReceiptInboxDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * The receipt `receiptId` if the system's inbox already holds it, archived (again: the archive
   * keeps one copy per digest) — a crash may have come between the inbox row and the archive.
   * Undefined for a push system, a receipt not there, and a store that cannot be read now (the
   * issuer then goes on as for a new receipt, and `put` finds it there if it is).
   */
  async held(system: SystemEntry, receiptId: string, log: Logger): Promise<ReceiptVersion | undefined> {
    if (system.delivery.mode !== 'pull') return undefined;
    let item: InboxItem | undefined;
    try {
      item = await this.deps.mailbox.get(system.id, receiptId);
    } catch (error) {
      log.warn({ err: error, to: system.id }, 'could not look for the receipt in the inbox');
      return undefined;
    }
    return item && this.archiveHeld(item);
  }

  private async archiveHeld(item: InboxItem): Promise<ReceiptVersion> {
    const type = catalogue.byId(item.messageType);
    if (type)
      await this.deps.archive?.keep({
        receiptId: item.messageId,
        type,
        onBehalfOf: item.senderSystem,
        senderAuthority: item.senderAuthority,
        receiverAuthority: item.receiverAuthority,
        digest: item.digest,
        signed: item.signedDocument,
      });
    return { signed: item.signedDocument, digest: item.digest };
  }

  async put(system: SystemEntry, receipt: SealedReceipt, log: Logger): Promise<InboxOutcome> {
    const { deps } = this;
    if (system.delivery.mode !== 'pull') return { stored: false, reason: 'push delivery' };
    try {
      // Ticket 0 is nobody's (tickets start at 1): only the case's head is asked for.
      const view = await deps.mailbox.caseView(system.id, receipt.acknowledgedId, { ticket: 0 });
      if (view.head) return { stored: false, reason: `its case waits (ticket ${view.head.ticket})` };
      const adapter = deps.adapters.get(system.adapter);
      if (!adapter) return { stored: false, reason: `adapter ${system.adapter} is not installed` };
      const encodeStarted = stageStart();
      const native = adapter.encode(receipt.message, receipt.type, deps.adapterContext);
      deps.instruments?.stage('delivery.encode', encodeStarted);
      const fresh = await deps.mailbox.putIfNew({
        systemId: system.id,
        messageId: receipt.receiptId,
        messageType: receipt.type.id,
        senderAuthority: receipt.senderAuthority,
        receiverAuthority: receipt.receiverAuthority,
        senderSystem: receipt.onBehalfOf,
        digest: receipt.digest,
        signedDocument: receipt.signed,
        nativeContentType: native.contentType,
        nativeBody: native.body,
        createdAt: this.now().toISOString(),
      });
      // Put by another process since the issuer looked, which is writing that version's trail now (or
      // crashed before it could: the next start's catch-up finds it `held`). Not archived: never sent.
      if (!fresh) return { stored: false, putBefore: true };
      await deps.archive?.keep(receipt);
      deps.instruments?.outcome('delivered');
      return { stored: true };
    } catch (error) {
      log.warn({ err: error, to: system.id }, 'receipt not put into the inbox directly; the bus carries it');
      return { stored: false, reason: (error as Error).message };
    }
  }
}
