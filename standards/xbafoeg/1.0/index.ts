/**
 * XBAföG 1.0 in the catalogue: its namespace, XSD, code lists and message types.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StandardVersion } from '../../catalogue.ts';
import { messageTypeSpec, standardVersion, type VersionDefinition } from '../../xoev/define.ts';
import { Abgabe0401, LISTS, NAMESPACE, Quittung0400, STANDARD, Uebernahme0402, VERSION } from './schema.ts';

const DEFINITION: VersionDefinition = {
  standard: 'xbafoeg',
  title: STANDARD,
  version: VERSION,
  namespace: NAMESPACE,
  prefix: 'xbafoeg',
  description:
    'Ausbildungsförderung (BAföG): Abgabe der Förderungsakte an das nach einem Zuständigkeitswechsel (§§ 45, 45a BAföG) zuständige Amt für Ausbildungsförderung und dessen Übernahme oder Ablehnung.',
  dir: path.dirname(fileURLToPath(import.meta.url)),
  xsdFile: 'xbafoeg.xsd',
  typeList: LISTS.nachrichtentyp,
};

/** `akte.abgabe.0401`: the office that was responsible hands the student's file to the one now responsible. */
export const abgabe0401 = messageTypeSpec(DEFINITION, 'akte.abgabe.0401', '0401', Abgabe0401);
/** `akte.uebernahme.0402`: the receiving office takes the file over, or refuses it with a reason. */
export const uebernahme0402 = messageTypeSpec(DEFINITION, 'akte.uebernahme.0402', '0402', Uebernahme0402);

/** `quittung.0400`: the receipt for any XBAföG message, sent when the receiver took it over. */
export const quittung0400 = messageTypeSpec(DEFINITION, 'quittung.0400', '0400', Quittung0400);

export const xbafoeg10: StandardVersion = standardVersion(
  DEFINITION,
  [abgabe0401, uebernahme0402, quittung0400],
  Object.values(LISTS),
);

export default xbafoeg10;
