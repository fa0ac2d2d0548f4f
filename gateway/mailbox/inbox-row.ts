/** The inbox table's row shape, shared by the SQLite and PostgreSQL stores (same columns in both). */
import type { InboxItem } from '../ports/mailbox-store.ts';

export interface InboxRow {
  seq: number;
  system_id: string;
  message_id: string;
  message_type: string;
  sender_authority: string;
  receiver_authority: string;
  sender_system: string;
  digest: string;
  signed_document: string;
  native_content_type: string;
  native_body: Buffer;
  created_at: string;
}

export function toInboxItem(r: InboxRow): InboxItem {
  return {
    systemId: r.system_id,
    messageId: r.message_id,
    messageType: r.message_type,
    senderAuthority: r.sender_authority,
    receiverAuthority: r.receiver_authority,
    senderSystem: r.sender_system,
    digest: r.digest,
    signedDocument: r.signed_document,
    nativeContentType: r.native_content_type,
    nativeBody: r.native_body,
    createdAt: r.created_at,
  };
}

/** The order claimUnauditedAcks answers in (UPDATE … RETURNING keeps none): oldest ack first. */
export function byAckThenSeq(a: InboxRow & { acked_at: string }, b: InboxRow & { acked_at: string }): number {
  return a.acked_at < b.acked_at ? -1 : a.acked_at > b.acked_at ? 1 : a.seq - b.seq;
}
