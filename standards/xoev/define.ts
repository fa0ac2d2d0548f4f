/**
 * Building blocks for a standard version's module (standards/<standard>/<version>/index.ts): one
 * place that checks a message type against the version's nachrichtentyp list, so that the name, the
 * code and the root element can never disagree.
 */
import path from 'node:path';
import type { z } from 'zod';
import type { MessageTypeSpec, StandardVersion, XoevMessage } from '../catalogue.ts';
import type { CodeList } from './codelist.ts';

export interface VersionDefinition {
  /** Catalogue id, lower case: `xkfz`. */
  standard: string;
  /** The root attribute `standard`: `XKfz`. */
  title: string;
  version: string;
  namespace: string;
  prefix: string;
  /** What the standard is for, one sentence (the catalogue API shows it). */
  description: string;
  /** The version's folder: the XSD and examples/ live there. */
  dir: string;
  xsdFile: string;
  /** The version's nachrichtentyp code list. */
  typeList: CodeList;
}

/** A message type of `def`; throws at load time if `code` is not `name` on the nachrichtentyp list. */
export function messageTypeSpec(
  def: VersionDefinition,
  name: string,
  code: string,
  schema: z.ZodType<XoevMessage>,
): MessageTypeSpec {
  if (def.typeList.nameOf(code) !== name) {
    throw new Error(`${def.standard} ${def.version}: code ${code} is not ${name} on the nachrichtentyp list`);
  }
  return {
    standard: def.standard,
    version: def.version,
    name,
    code,
    namespace: def.namespace,
    prefix: def.prefix,
    schema,
    id: `${def.standard}:${def.version}:${name}`,
  };
}

export function standardVersion(
  def: VersionDefinition,
  messageTypes: MessageTypeSpec[],
  codeLists: CodeList[],
): StandardVersion {
  return {
    standard: def.standard,
    title: def.title,
    version: def.version,
    namespace: def.namespace,
    prefix: def.prefix,
    description: def.description,
    xsdPath: path.join(def.dir, def.xsdFile),
    examplesDir: path.join(def.dir, 'examples'),
    messageTypes,
    codeLists,
  };
}
