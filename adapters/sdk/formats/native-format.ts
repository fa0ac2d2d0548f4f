/**
 * A native format as the declarative adapter sees it: bytes ↔ plain trees, one tree per message
 * (a JSON document, an XML dialect's root element, a CSV line, a fixed-width record), plus how the
 * format names a field in error messages. The format helpers (json.ts, xml-dialect.ts, csv.ts,
 * fixed-width.ts) each provide one.
 */
import type { NativeOutput } from '../adapter.ts';
import type { Charset } from './charset.ts';

export type NativeTree = Record<string, unknown>;

export interface NativeRecord {
  tree: NativeTree;
  /** Where the record sits in the input (`$`, `line 3`): DecodedMessage.nativeRef. */
  ref: string;
  /** The field at a dot path as an integrator finds it (`$.person.nachname`, `line 3, column NAME`). */
  nativeName(path: string): string;
}

export interface NativeFormat {
  /** For the adapter's spec and generated docs. */
  describe: string;
  /** Media types accepted from the system. */
  contentTypes: string[];
  /** The one charset read() decodes; a request declaring another is refused (AdapterSpec.decodes.charset). */
  charset: Charset;
  /** Bytes → records. Format errors (syntax, encoding, record length) throw GatewayError naming line/field. */
  read(body: Buffer): NativeRecord[];
  /** Trees → bytes, for delivery to the system. */
  write(trees: NativeTree[]): NativeOutput;
  /** How a field of a written tree is named in encoding errors. */
  outputName(path: string): string;
}
