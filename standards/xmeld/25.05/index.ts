/**
 * XMeld 25.05 in the catalogue: its namespace, XSD, code lists and message types.
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
  description:
    'Meldewesen: Rückmeldungen zwischen Meldebehörden nach einem Umzug (§ 33 BMG) und Quittungen (Vorgängerversion von 25.11).',
  dir: path.dirname(fileURLToPath(import.meta.url)),
  xsdFile: 'xmeld.xsd',
  typeList: LISTS.nachrichtentyp,
};

export const rueckmeldung0201 = messageTypeSpec(
  DEFINITION,
  'rueckmeldung.anmeldunginland.0201',
  '0201',
  Rueckmeldung0201,
);
export const auswertung0203 = messageTypeSpec(
  DEFINITION,
  'rueckmeldung.auswertung.0203',
  '0203',
  Auswertung0203,
);
export const unplausibel0204 = messageTypeSpec(
  DEFINITION,
  'rueckmeldung.unplausibel.0204',
  '0204',
  Unplausibel0204,
);
export const quittung0020 = messageTypeSpec(DEFINITION, 'quittung.0020', '0020', Quittung0020);

export const xmeld2505: StandardVersion = standardVersion(
  DEFINITION,
  [rueckmeldung0201, auswertung0203, unplausibel0204, quittung0020],
  Object.values(LISTS),
);

export default xmeld2505;
