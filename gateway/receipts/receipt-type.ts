/**
 * Which catalogued message type is a standard's receipt. By convention of the catalogue, a receipt
 * type's name is `quittung.<code>` (XMeld: `quittung.0020`), possibly after a domain prefix; its
 * schema carries the header with referenzUUID, `eingangszeitpunkt`, `ergebnis` (on a
 * `…quittungsergebnis` code list) and `fehler`. Standards without such a type get no receipts.
 */
import type { MessageTypeSpec } from '../../standards/catalogue.ts';
import { catalogue } from '../../standards/index.ts';

const RECEIPT_NAME = /(^|\.)quittung\.\d{4}$/;

/** True for a catalogue id or spec of a receipt type (receipts are never receipted themselves). */
export function isReceiptType(type: MessageTypeSpec | string | null | undefined): boolean {
  if (!type) return false;
  const name = typeof type === 'string' ? (catalogue.byId(type)?.name ?? type) : type.name;
  return RECEIPT_NAME.test(name);
}

/** The receipt type of one standard version, if it has one. */
export function receiptTypeOf(standard: string, version: string): MessageTypeSpec | undefined {
  return catalogue.get(standard, version)?.messageTypes.find((t) => RECEIPT_NAME.test(t.name));
}

/**
 * The receipt type to send to a system that accepts `acceptedVersions` of `standard`: the version
 * of the acknowledged message if the system accepts it, else the first accepted version that has
 * a receipt type.
 */
export function receiptTypeFor(
  standard: string,
  messageVersion: string,
  acceptedVersions: readonly string[],
): MessageTypeSpec | undefined {
  const candidates = acceptedVersions.includes(messageVersion)
    ? [messageVersion, ...acceptedVersions]
    : [...acceptedVersions];
  for (const version of candidates) {
    const type = receiptTypeOf(standard, version);
    if (type) return type;
  }
  return undefined;
}
