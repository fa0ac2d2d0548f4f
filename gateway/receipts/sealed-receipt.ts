/**
 * What the receipt components pass each other: the receipt the issuer sealed, and a version of it
 * someone already has — the inbox row (receipt-inbox.ts) or the archive (receipt-archive.ts).
 */
import type { MessageTypeSpec, XoevMessage } from '../../standards/catalogue.ts';

export interface SealedReceipt {
  receiptId: string;
  /** The acknowledged message: the receipt's case key. */
  acknowledgedId: string;
  type: MessageTypeSpec;
  /** The message that was serialized and sealed (never re-read from the sealed bytes: it is the source). */
  message: XoevMessage;
  signed: string;
  digest: string;
  /** Authorities as on the receipt: it travels from the acknowledging side to the sender. */
  senderAuthority: string;
  receiverAuthority: string;
  /** The acknowledging system, on whose behalf the receipt is sent. */
  onBehalfOf: string;
}

/** A version of a receipt the sender has or will get: its sealed bytes and their digest. */
export interface ReceiptVersion {
  signed: string;
  digest: string;
}
