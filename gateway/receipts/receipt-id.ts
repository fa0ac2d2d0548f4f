/**
 * The receipt's nachrichtenUUID, derived from the acknowledged message's id (RFC 9562 UUIDv5,
 * SHA-1 name-based): every process, every repeated ack and every replay computes the same id, so the
 * gateway's replay protection (one `accepted` per nachrichtenUUID) and the delivery ledger (one
 * delivery per nachrichtenUUID and receiver) make one receipt per message, whoever issues it.
 */
import { createHash } from 'node:crypto';

/** The namespace of receipt ids (a fixed random UUID; changing it would change every receipt id). */
export const RECEIPT_NAMESPACE = '6d1f3c2a-8b4e-4f7a-9c3d-2e1b0a9f8e7d';

function uuidBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replaceAll('-', ''), 'hex');
}

/** UUIDv5 of `name` in `namespace`, lower case. */
export function uuidV5(namespace: string, name: string): string {
  const hash = createHash('sha1').update(uuidBytes(namespace)).update(name, 'utf8').digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The nachrichtenUUID of the receipt for the message `acknowledgedId`. */
export function receiptIdFor(acknowledgedId: string): string {
  return uuidV5(RECEIPT_NAMESPACE, acknowledgedId.toLowerCase());
}
