/**
 * XÖV code lists. Every coded value in a message carries the list it is from (listURI) and the
 * list's version (listVersionID); validation accepts only codes that are on exactly that list
 * version. Lists ship as JSON files under standards/codelists/ and are registered by loadCodeList().
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export interface CodeListFile {
  listURI: string;
  listVersionID: string;
  name: string;
  /** Publisher and source, for the catalogue API. */
  herausgeber: string;
  codes: { code: string; name: string }[];
}

export interface CodeList extends CodeListFile {
  /** The file name without `.json` (`ags-2025-06-30`): the list's id in the catalogue API and exports. */
  id: string;
  has(code: string): boolean;
  nameOf(code: string): string | undefined;
}

const CODELIST_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../codelists');
const loaded = new Map<string, CodeList>();

/** Loads `standards/codelists/<file>` once; the same list version is the same object everywhere. */
export function loadCodeList(file: string): CodeList {
  const cached = loaded.get(file);
  if (cached) return cached;
  const data = JSON.parse(readFileSync(path.join(CODELIST_DIR, file), 'utf8')) as CodeListFile;
  const byCode = new Map(data.codes.map((c) => [c.code, c.name]));
  const list: CodeList = {
    ...data,
    id: path.basename(file, '.json'),
    has: (code) => byCode.has(code),
    nameOf: (code) => byCode.get(code),
  };
  loaded.set(file, list);
  return list;
}

/** Every code list loaded so far (the catalogue API lists them). */
export function loadedCodeLists(): CodeList[] {
  return [...loaded.values()];
}

/** Marks a schema field as an XML attribute for the codec and the XSD (see ./xml-codec.ts). */
export const XML_ATTRIBUTE = { xmlAttribute: true } as const;

/**
 * A coded value from `list`: `<x listURI=".." listVersionID=".."><code>..</code><name>..</name></x>`.
 * The error message names the list so that integrators can look the value up.
 */
export function codeOf(list: CodeList) {
  return z
    .object({
      listURI: z.literal(list.listURI).meta(XML_ATTRIBUTE),
      listVersionID: z.literal(list.listVersionID).meta(XML_ATTRIBUTE),
      code: z.string().refine((c) => list.has(c), {
        message: `not on code list ${list.listURI} version ${list.listVersionID} (${list.name})`,
        params: { gatewayCode: 'GW_ERR_CODE_NOT_IN_LIST' },
      }),
      name: z.string().optional(),
    })
    .meta({ codeList: list.listURI });
}

/** Builds a coded value, filling listURI/listVersionID from the list. Throws on codes not on the list. */
export function codeValue(
  list: CodeList,
  code: string,
): { listURI: string; listVersionID: string; code: string } {
  if (!list.has(code)) throw new Error(`code ${code} is not on ${list.listURI} ${list.listVersionID}`);
  return { listURI: list.listURI, listVersionID: list.listVersionID, code };
}
