/**
 * A declarative mapping for one XÖV message type. Beside the adapter's rules it fills what every
 * message carries and no native format knows: the root attributes `standard` and `version` (from
 * the catalogue), `produkt`, `produkthersteller`, `produktversion` (the adapter's product) and the
 * header's `nachrichtentyp` (the type's code on its standard's nachrichtentyp code list).
 */
import type { MessageTypeSpec, XoevMessage } from '../../../standards/catalogue.ts';
import { catalogue } from '../../../standards/index.ts';
import type { CodeList } from '../../../standards/xoev/codelist.ts';
import { defineMapping, type Fields, type Mapping, type MappingHooks, type Rule } from './define.ts';
import { pointerKeys, setAtKeys } from './paths.ts';

const NACHRICHTENTYP = '/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtentyp';

export interface Produkt {
  produkt: string;
  produkthersteller: string;
  produktversion: string;
}

export interface MessageMapping<S extends XoevMessage> extends Mapping<S> {
  type: MessageTypeSpec;
}

/** The nachrichtentyp code list of the type's standard version: the list on which the type's code names it. */
export function nachrichtentypList(type: MessageTypeSpec): CodeList {
  const version = catalogue.get(type.standard, type.version);
  const lists = version?.codeLists ?? [];
  const list =
    lists.find((l) => l.nameOf(type.code) === type.name) ??
    lists.find((l) => l.listURI.includes('nachrichtentyp') && l.has(type.code));
  if (!list)
    throw new Error(
      `${type.id}: no nachrichtentyp code list of ${type.standard} ${type.version} has code ${type.code}`,
    );
  return list;
}

export function defineMessageMapping<S extends XoevMessage>(options: {
  type: MessageTypeSpec;
  produkt: Produkt;
  rules: (f: Fields<S>) => Rule[];
  hooks?: MappingHooks<S>;
}): MessageMapping<S> {
  const { type, produkt } = options;
  const version = catalogue.get(type.standard, type.version);
  if (!version) throw new Error(`${type.id} is not in the catalogue`);
  const typeList = nachrichtentypList(type);
  const rootAttributes = { standard: version.title, version: type.version, ...produkt };
  const typeAt = pointerKeys(NACHRICHTENTYP);
  const envelope: Rule = {
    native: [],
    standard: ['/standard', '/version', '/produkt', '/produkthersteller', '/produktversion', NACHRICHTENTYP],
    describe: 'set from the catalogue and the adapter',
    decode(_native, draft) {
      Object.assign(draft, rootAttributes);
      setAtKeys(draft, typeAt, {
        listURI: typeList.listURI,
        listVersionID: typeList.listVersionID,
        code: type.code,
      });
    },
    encode() {},
  };
  const mapping = defineMapping<S>((f) => [envelope, ...options.rules(f)], options.hooks);
  return { ...mapping, type };
}
