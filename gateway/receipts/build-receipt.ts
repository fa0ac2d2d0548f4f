/**
 * Builds the receipt document for an acknowledged message: the receiving authority confirms to the
 * sending authority that its system took message `referenzUUID` over at `eingangszeitpunkt`.
 * The gateway writes it on the receiver's behalf (the receiver's acknowledgement is the evidence),
 * so `produkt` names the gateway. Only ids, authorities and times: no content of the original.
 */
import type { MessageTypeSpec, XoevMessage } from '../../standards/catalogue.ts';
import { catalogue } from '../../standards/index.ts';
import type { CodeList } from '../../standards/xoev/codelist.ts';
import { codeValue } from '../../standards/xoev/codelist.ts';
import { validateMessage } from '../../standards/xoev/xml-codec.ts';

export const RECEIPT_PRODUKT = {
  produkt: 'Länder-Gateway',
  produkthersteller: 'Länder-Gateway (Receipts)',
  produktversion: '1.0',
} as const;

/** Code of "Nachricht angenommen" on every `…quittungsergebnis` list of the catalogue. */
const ANGENOMMEN = '01';

export interface ReceiptInput {
  type: MessageTypeSpec;
  receiptId: string;
  /** nachrichtenUUID of the acknowledged message. */
  referenzUUID: string;
  /** The acknowledged message's sender: it reads the receipt. */
  leser: { kennung: string; name: string };
  /** The acknowledged message's receiver: the receipt is written on its behalf. */
  autor: { kennung: string; name: string };
  /** When the receiving system acknowledged. */
  acknowledgedAt: Date;
  now: Date;
  test?: boolean;
}

function listOf(type: MessageTypeSpec, uriPart: string, code: string): CodeList {
  const version = catalogue.get(type.standard, type.version);
  const list = version?.codeLists.find((l) => l.listURI.includes(uriPart) && l.has(code));
  if (!list) throw new Error(`${type.id}: no ${uriPart} code list with code ${code}`);
  return list;
}

/** xs:dateTime with milliseconds in UTC, as ZEITPUNKT requires. */
function zeitpunkt(instant: Date): string {
  return instant.toISOString();
}

export function buildReceipt(input: ReceiptInput): XoevMessage {
  const { type } = input;
  const version = catalogue.get(type.standard, type.version);
  if (!version) throw new Error(`${type.id} is not in the catalogue`);
  const message = {
    standard: version.title,
    version: version.version,
    ...RECEIPT_PRODUKT,
    test: input.test ?? false,
    'nachrichtenkopf.g2g': {
      'identifikation.nachricht': {
        nachrichtenUUID: input.receiptId,
        nachrichtentyp: codeValue(listOf(type, 'nachrichtentyp', type.code), type.code),
        erstellungszeitpunkt: zeitpunkt(input.now),
      },
      leser: { verzeichnisdienst: 'DVDV', ...input.leser },
      autor: { verzeichnisdienst: 'DVDV', ...input.autor },
      referenzUUID: input.referenzUUID,
    },
    eingangszeitpunkt: zeitpunkt(input.acknowledgedAt),
    ergebnis: codeValue(listOf(type, 'quittungsergebnis', ANGENOMMEN), ANGENOMMEN),
    fehler: [],
  };
  return validateMessage(type, message);
}
