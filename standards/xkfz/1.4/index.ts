/**
 * XKfz 1.4 in the catalogue: its namespace, XSD, code lists and message types.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StandardVersion } from '../../catalogue.ts';
import { messageTypeSpec, standardVersion, type VersionDefinition } from '../../xoev/define.ts';
import {
  Ausserbetriebsetzung1003,
  Halterwechsel1002,
  LISTS,
  NAMESPACE,
  Quittung1000,
  STANDARD,
  VERSION,
  Zulassung1001,
} from './schema.ts';

const DEFINITION: VersionDefinition = {
  standard: 'xkfz',
  title: STANDARD,
  version: VERSION,
  namespace: NAMESPACE,
  prefix: 'xkfz',
  description:
    'Kfz-Zulassung: Meldungen der Zulassungsbehörden an das zentrale Fahrzeugregister (Zulassung, Halterwechsel, Außerbetriebsetzung).',
  dir: path.dirname(fileURLToPath(import.meta.url)),
  xsdFile: 'xkfz.xsd',
  typeList: LISTS.nachrichtentyp,
};

/** `fahrzeug.zulassung.1001`: a vehicle was registered to a keeper. */
export const zulassung1001 = messageTypeSpec(DEFINITION, 'fahrzeug.zulassung.1001', '1001', Zulassung1001);
/** `fahrzeug.halterwechsel.1002`: a registered vehicle changed its keeper. */
export const halterwechsel1002 = messageTypeSpec(
  DEFINITION,
  'fahrzeug.halterwechsel.1002',
  '1002',
  Halterwechsel1002,
);
/** `fahrzeug.ausserbetriebsetzung.1003`: a vehicle was taken out of operation. */
export const ausserbetriebsetzung1003 = messageTypeSpec(
  DEFINITION,
  'fahrzeug.ausserbetriebsetzung.1003',
  '1003',
  Ausserbetriebsetzung1003,
);

/** `quittung.1000`: the receipt for any XKfz message, sent when the receiver took it over. */
export const quittung1000 = messageTypeSpec(DEFINITION, 'quittung.1000', '1000', Quittung1000);

export const xkfz14: StandardVersion = standardVersion(
  DEFINITION,
  [zulassung1001, halterwechsel1002, ausserbetriebsetzung1003, quittung1000],
  Object.values(LISTS),
);

export default xkfz14;
