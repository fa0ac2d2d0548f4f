/**
 * XMeld 25.11 in the catalogue: its namespace, XSD, code lists and message types.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import type { MessageTypeSpec, StandardVersion, XoevMessage } from '../../catalogue.ts';
import { Auswertung0203, LISTS, NAMESPACE, Rueckmeldung0201, VERSION } from './schema.ts';

const STANDARD_ID = 'xmeld';
const PREFIX = 'xmeld';
const DIR = path.dirname(fileURLToPath(import.meta.url));

function messageType(name: string, code: string, schema: z.ZodType<XoevMessage>): MessageTypeSpec {
  if (LISTS.nachrichtentyp.nameOf(code) !== name) {
    throw new Error(`xmeld ${VERSION}: code ${code} is not ${name} on the nachrichtentyp list`);
  }
  return {
    standard: STANDARD_ID,
    version: VERSION,
    name,
    code,
    namespace: NAMESPACE,
    prefix: PREFIX,
    schema,
    id: `${STANDARD_ID}:${VERSION}:${name}`,
  };
}

/** `rueckmeldung.anmeldunginland.0201`: the new registration office reports a move-in to the previous one. */
export const rueckmeldung0201 = messageType('rueckmeldung.anmeldunginland.0201', '0201', Rueckmeldung0201);
/** `rueckmeldung.auswertung.0203`: the previous office's answer to a 0201. */
export const auswertung0203 = messageType('rueckmeldung.auswertung.0203', '0203', Auswertung0203);

export const xmeld2511: StandardVersion = {
  standard: STANDARD_ID,
  title: 'XMeld',
  version: VERSION,
  namespace: NAMESPACE,
  prefix: PREFIX,
  xsdPath: path.join(DIR, 'xmeld.xsd'),
  messageTypes: [rueckmeldung0201, auswertung0203],
  codeLists: Object.values(LISTS),
};

export default xmeld2511;
