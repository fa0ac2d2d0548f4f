/**
 * XElterngeld 1.2 in the catalogue: its namespace, XSD, code lists and message types.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StandardVersion } from '../../catalogue.ts';
import { messageTypeSpec, standardVersion, type VersionDefinition } from '../../xoev/define.ts';
import {
  Antrag0101,
  Bescheid0102,
  LISTS,
  NAMESPACE,
  Nachforderung0103,
  Quittung0100,
  STANDARD,
  VERSION,
} from './schema.ts';

const DEFINITION: VersionDefinition = {
  standard: 'xelterngeld',
  title: STANDARD,
  version: VERSION,
  namespace: NAMESPACE,
  prefix: 'xelterngeld',
  description:
    'Elterngeld (BEEG): Antrag an die zuständige Elterngeldstelle, Bescheid und Nachforderung fehlender Unterlagen.',
  dir: path.dirname(fileURLToPath(import.meta.url)),
  xsdFile: 'xelterngeld.xsd',
  typeList: LISTS.nachrichtentyp,
};

/** `elterngeld.antrag.0101`: a parent applies for Elterngeld at the responsible Elterngeldstelle. */
export const antrag0101 = messageTypeSpec(DEFINITION, 'elterngeld.antrag.0101', '0101', Antrag0101);
/** `elterngeld.bescheid.0102`: the Elterngeldstelle's decision on an application. */
export const bescheid0102 = messageTypeSpec(DEFINITION, 'elterngeld.bescheid.0102', '0102', Bescheid0102);
/** `elterngeld.nachforderung.0103`: the Elterngeldstelle asks for missing documents. */
export const nachforderung0103 = messageTypeSpec(
  DEFINITION,
  'elterngeld.nachforderung.0103',
  '0103',
  Nachforderung0103,
);

/** `quittung.0100`: the receipt for any XElterngeld message, sent when the receiver took it over. */
export const quittung0100 = messageTypeSpec(DEFINITION, 'quittung.0100', '0100', Quittung0100);

export const xelterngeld12: StandardVersion = standardVersion(
  DEFINITION,
  [antrag0101, bescheid0102, nachforderung0103, quittung0100],
  Object.values(LISTS),
);

export default xelterngeld12;
