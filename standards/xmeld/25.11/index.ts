/**
 * XMeld 25.11 in the catalogue: its namespace, XSD, code lists and message types.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StandardVersion } from '../../catalogue.ts';
import { messageTypeSpec, standardVersion, type VersionDefinition } from '../../xoev/define.ts';
import {
  Auswertung0203,
  LISTS,
  NAMESPACE,
  Quittung0020,
  Rueckmeldung0201,
  STANDARD,
  Unplausibel0204,
  VERSION,
} from './schema.ts';

const DEFINITION: VersionDefinition = {
  standard: 'xmeld',
  title: STANDARD,
  version: VERSION,
  namespace: NAMESPACE,
  prefix: 'xmeld',
  description: 'Meldewesen: Rückmeldungen zwischen Meldebehörden nach einem Umzug (§ 33 BMG) und Quittungen.',
  dir: path.dirname(fileURLToPath(import.meta.url)),
  xsdFile: 'xmeld.xsd',
  typeList: LISTS.nachrichtentyp,
};

/** `rueckmeldung.anmeldunginland.0201`: the new registration office reports a move-in to the previous one. */
export const rueckmeldung0201 = messageTypeSpec(
  DEFINITION,
  'rueckmeldung.anmeldunginland.0201',
  '0201',
  Rueckmeldung0201,
);
/** `rueckmeldung.auswertung.0203`: the previous office's answer to a 0201. */
export const auswertung0203 = messageTypeSpec(
  DEFINITION,
  'rueckmeldung.auswertung.0203',
  '0203',
  Auswertung0203,
);
/** `rueckmeldung.unplausibel.0204`: the previous office cannot process a 0201 and says why. */
export const unplausibel0204 = messageTypeSpec(
  DEFINITION,
  'rueckmeldung.unplausibel.0204',
  '0204',
  Unplausibel0204,
);
/** `quittung.0020`: the receipt for any XMeld message, sent when the receiver took it over. */
export const quittung0020 = messageTypeSpec(DEFINITION, 'quittung.0020', '0020', Quittung0020);

export const xmeld2511: StandardVersion = standardVersion(
  DEFINITION,
  [rueckmeldung0201, auswertung0203, unplausibel0204, quittung0020],
  Object.values(LISTS),
);

export default xmeld2511;
