/**
 * The pipeline's handle on the document archive: finds the retention period in the contract that
 * routed the message, archives the sealed document, and shreds expired days on a schedule.
 *
 * Called by the delivery stage (DeliveryWorker.deliver) when it hands a document over, and for
 * receipts by receipts/receipt-archive.ts: after a receipt's inbox row, or before a receipt's publish
 * to the bus (so that a re-issue after a crash sends the same version again). No contract names receipts:
 * a receipt is kept as long as the contract of the route it answers says (Contracts.coveringReceipt).
 * Failing to archive never fails a delivery: it is logged, and the audit chain still holds the
 * document's digest.
 */
import type { Contracts } from '../../directory/contracts.ts';
import { forMessage, type Logger } from '../../log/logger.ts';
import type { DocumentArchive } from '../../ports/document-archive.ts';
import { isReceiptType } from '../../receipts/receipt-type.ts';

export interface ArchiveRequest {
  messageId: string;
  /** Catalogue id of the standard (`xmeld`) and the message type name (`rueckmeldung.anmeldunginland.0201`). */
  standard: string;
  messageType: string;
  senderSystem: string;
  senderAuthority: string;
  receiverAuthority: string;
  /** Hex SHA-256 of signedDocument (VerifiedDocument.digest). */
  digest: string;
  /** The sealed document, as text or as its UTF-8 bytes (a caller holding those spares encoding it again). */
  signedDocument: string | Buffer;
}

export interface DocumentArchiverOptions {
  archive: DocumentArchive;
  contracts: () => Contracts;
  logger: Logger;
  /** How often expired days are shredded. Default hourly. */
  shredEveryMs?: number;
  now?: () => Date;
}

export class DocumentArchiver {
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => Date;

  constructor(private readonly options: DocumentArchiverOptions) {
    this.now = options.now ?? (() => new Date());
  }

  start(): void {
    void this.shred();
    this.timer = setInterval(() => void this.shred(), this.options.shredEveryMs ?? 3_600_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
  }

  /** Archives under the retention of the contract that allows this route; false if none does. */
  async archive(request: ArchiveRequest): Promise<boolean> {
    // Made only to log: a child logger per document cost more than the retention lookup.
    const log = () => forMessage(this.options.logger, request.messageId);
    const contracts = this.options.contracts();
    const contract = isReceiptType(request.messageType)
      ? contracts.coveringReceipt(request)
      : contracts.allowing(request);
    if (!contract) {
      log().warn('not archived: no contract covers this route any more');
      return false;
    }
    try {
      const { stored, expiresOn } = await this.options.archive.put({
        messageId: request.messageId,
        digest: request.digest,
        contentType: 'application/xml',
        document:
          typeof request.signedDocument === 'string'
            ? Buffer.from(request.signedDocument, 'utf8')
            : request.signedDocument,
        archivedAt: this.now().toISOString(),
        retentionDays: contract.requirements.retentionDays,
      });
      if (stored && this.options.logger.isLevelEnabled('debug'))
        log().debug({ expiresOn, contract: contract.id }, 'document archived');
      return stored;
    } catch (error) {
      log().error({ err: error }, 'document archive failed; the audit chain keeps the digest');
      return false;
    }
  }

  /** Destroys the keys of the days whose retention ended. */
  async shred(): Promise<{ keys: number; documents: number }> {
    try {
      const result = await this.options.archive.shred(this.now());
      if (result.keys > 0 || result.documents > 0) {
        this.options.logger.info(result, 'archive: expired documents crypto-shredded');
      }
      return result;
    } catch (error) {
      this.options.logger.error({ err: error }, 'archive: shredding failed; retrying at the next interval');
      return { keys: 0, documents: 0 };
    }
  }
}
