/**
 * The receipts' handle on the document archive: keeps a receipt's sealed version, and reads back
 * the first one kept.
 *
 * Two paths keep a receipt. One put into a pull inbox is kept after its inbox row (receipt-inbox.ts
 * says why in that order). One the bus carries is kept by the issuer before its publish
 * (receipt-issuer.ts): a record published but not yet consumed when its issuer crashed is the
 * version the sender will get, and the issuer cannot see it on the bus — a re-issue finds it here
 * and publishes it again instead of sealing anew. The delivery stage archives the same bytes again
 * when it hands them over (the archive keeps one copy per digest).
 *
 * Made only with both the write and the read (app.ts: audit.archiveDocuments on): without a way to
 * read it back, keeping a receipt before its publish would only archive what may never be
 * delivered. Without it, receipts are not archived by this component at all, and a re-issue seals
 * anew (receipt-issuer.ts documents what that costs).
 */
import type { ArchiveRequest } from '../audit/archive/document-archiver.ts';
import type { Logger } from '../log/logger.ts';
import type { ArchivedDocument } from '../ports/document-archive.ts';
import type { ReceiptVersion, SealedReceipt } from './sealed-receipt.ts';

export interface ReceiptArchiveDeps {
  /** Archives a sealed document under its contract's retention (DocumentArchiver.archive); false if not. */
  write: (request: ArchiveRequest) => Promise<boolean>;
  /** The archived versions of a document, oldest first (DocumentArchive.get). */
  versions: (messageId: string) => Promise<ArchivedDocument[]>;
}

/** What the archive needs of a receipt: a held one has no source message or case key at hand. */
export type ArchivableReceipt = Omit<SealedReceipt, 'acknowledgedId' | 'message'>;

export class ReceiptArchive {
  constructor(private readonly deps: ReceiptArchiveDeps) {}

  /**
   * Archives the receipt's sealed version. False if it could not be archived (the archiver logs
   * why): callers go on all the same — the receipt matters more than its archived copy.
   */
  keep(receipt: ArchivableReceipt): Promise<boolean> {
    return this.deps.write({
      messageId: receipt.receiptId,
      standard: receipt.type.standard,
      messageType: receipt.type.name,
      senderSystem: receipt.onBehalfOf,
      senderAuthority: receipt.senderAuthority,
      receiverAuthority: receipt.receiverAuthority,
      digest: receipt.digest,
      signedDocument: receipt.signed,
    });
  }

  /**
   * The first version of `receiptId` in the archive, if it can still be read: the one published
   * first, hence the one the sender gets first (the delivery ledger and the inbox drop later ones).
   * Undefined for a receipt not archived or shredded, and when the archive cannot be read now (the
   * issuer then seals anew, as it did before receipts were archived early).
   */
  async firstVersion(receiptId: string, log: Logger): Promise<ReceiptVersion | undefined> {
    try {
      const first = (await this.deps.versions(receiptId)).find((d) => d.status === 'available');
      return first && { signed: first.document.toString('utf8'), digest: first.digest };
    } catch (error) {
      log.warn({ err: error }, 'could not look for the receipt in the archive');
      return undefined;
    }
  }
}
