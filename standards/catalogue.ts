/**
 * The catalogue of standards: which standard versions exist, their message types, namespaces,
 * XSDs and code lists. The pipeline looks message types up here; it never names a standard itself.
 */
import type { z } from 'zod';
import type { CodeList } from './xoev/codelist.ts';
import type { Nachrichtenkopf } from './xoev/nachrichtenkopf.ts';

/** Common shape of every message of every standard (root attributes + header). */
export interface XoevMessage {
  standard: string;
  version: string;
  produkt: string;
  produkthersteller: string;
  produktversion: string;
  test: boolean;
  'nachrichtenkopf.g2g': Nachrichtenkopf;
}

export interface MessageTypeSpec {
  /** Catalogue id of the standard, lower case: `xmeld`. */
  standard: string;
  version: string;
  /** `rueckmeldung.anmeldunginland.0201` — also the root element's local name. */
  name: string;
  /** The code in the nachrichtentyp list: `0201`. */
  code: string;
  namespace: string;
  /** Namespace prefix used when serializing: `xmeld`. */
  prefix: string;
  schema: z.ZodType<XoevMessage>;
  /** `xmeld:25.11:rueckmeldung.anmeldunginland.0201`: the id used in audit events and contracts. */
  id: string;
}

export interface StandardVersion {
  standard: string;
  /** The value of the root attribute `standard` (`XMeld`). */
  title: string;
  version: string;
  namespace: string;
  prefix: string;
  /** What the standard is for, one sentence. */
  description: string;
  /** Absolute path of the XSD file. */
  xsdPath: string;
  /** Absolute path of the folder with one example instance per message type (`<name>.xml`). */
  examplesDir: string;
  messageTypes: MessageTypeSpec[];
  codeLists: CodeList[];
}
