/**
 * Legacy XML dialects of Länder systems, read with fast-xml-parser. Its parse() is lenient (it
 * accepts broken documents), so every document is validated first, and DOCTYPEs are refused
 * outright: a dialect never needs one, and entities are the classic XXE / billion-laughs vector.
 */
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { GatewayError } from '../../../gateway/errors/catalogue.ts';
import type { NativeFormat } from './native-format.ts';
import { decodeUtf8 } from './text.ts';

export interface XmlDialectOptions {
  /** Element names (local) that may repeat and are always read as arrays. */
  arrays?: string[];
  /** Maximum element nesting, to refuse pathological documents cheaply. */
  maxDepth?: number;
}

export type XmlNode = Record<string, unknown>;

const ATTRIBUTE_PREFIX = '@';

/** One parser per options object (a format's): a parser keeps nothing between documents. */
const parsers = new WeakMap<XmlDialectOptions, XMLParser>();

function parserFor(options: XmlDialectOptions): XMLParser {
  let parser = parsers.get(options);
  if (!parser) {
    const arrays = new Set(options.arrays ?? []);
    parser = new XMLParser({
      ignoreAttributes: false,
      attributeNamePrefix: ATTRIBUTE_PREFIX,
      removeNSPrefix: true,
      parseTagValue: false,
      parseAttributeValue: false,
      trimValues: true,
      // References are resolved here, in one pass, so that `&amp;#13;` stays the text `&#13;`.
      processEntities: false,
      tagValueProcessor: (_name: string, value: string) => resolveReferences(value),
      attributeValueProcessor: (_name: string, value: string) => resolveReferences(value),
      ignoreDeclaration: true,
      ignorePiTags: true,
      isArray: (name) => arrays.has(name),
    });
    parsers.set(options, parser);
  }
  return parser;
}

export function parseXmlDialect(body: Buffer, options: XmlDialectOptions = {}): XmlNode {
  const text = decodeUtf8(body);
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) {
    throw new GatewayError(
      'GW_ERR_XML_FORBIDDEN_CONSTRUCT',
      'DOCTYPE and ENTITY declarations are not accepted',
    );
  }
  checkDepth(text, options.maxDepth ?? 32);
  const valid = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (valid !== true) {
    throw new GatewayError(
      'GW_ERR_MALFORMED_PAYLOAD',
      `invalid XML at line ${valid.err.line}, column ${valid.err.col}: ${valid.err.msg}`,
    );
  }
  try {
    return parserFor(options).parse(text) as XmlNode;
  } catch (error) {
    if (error instanceof GatewayError) throw error;
    // The validator lets a few truncations through (`<a/` at the end of the text) on which the
    // parser then throws a plain Error: still the client's malformed document, not a 500.
    throw new GatewayError(
      'GW_ERR_MALFORMED_PAYLOAD',
      `invalid XML: ${(error as Error).message.split('\n')[0]}`,
      {
        cause: error,
      },
    );
  }
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** XML's five predefined entities and character references; anything else is an error (no DTD, no other entities). */
function resolveReferences(value: string): string {
  if (!value.includes('&')) return value;
  return value.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z][\w.-]*);?/g, (match, ref: string) => {
    if (!match.endsWith(';'))
      throw new GatewayError('GW_ERR_MALFORMED_PAYLOAD', `invalid XML: bare & before ${ref}`);
    if (ref.startsWith('#')) {
      const code = ref[1] === 'x' ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10);
      if (!isXmlChar(code))
        throw new GatewayError('GW_ERR_MALFORMED_PAYLOAD', `invalid XML: &${ref}; is not an XML character`);
      return String.fromCodePoint(code);
    }
    const resolved = PREDEFINED[ref];
    if (resolved === undefined)
      throw new GatewayError('GW_ERR_MALFORMED_PAYLOAD', `invalid XML: undefined entity &${ref};`);
    return resolved;
  });
}

function isXmlChar(code: number): boolean {
  return (
    code === 0x9 ||
    code === 0xa ||
    code === 0xd ||
    (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) ||
    (code >= 0x10000 && code <= 0x10ffff)
  );
}

/** Escapes for text; a CR is written as a reference, or the reader's line-end handling would turn it into LF. */
function escapeText(value: string): string {
  if (!/[&<>\r]/.test(value)) return value;
  return value.replace(/[&<>\r]/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&#13;',
  );
}

/** Escapes for attribute values; tab and line breaks as references, which attribute-value normalization keeps. */
function escapeAttribute(value: string): string {
  if (!/[&<>"\t\n\r]/.test(value)) return value;
  return value.replace(/[&<>"\t\n\r]/g, (c) =>
    c === '&'
      ? '&amp;'
      : c === '<'
        ? '&lt;'
        : c === '>'
          ? '&gt;'
          : c === '"'
            ? '&quot;'
            : `&#${c.charCodeAt(0)};`,
  );
}

/** Counts open-tag nesting without building anything, so a 10,000-deep document costs one scan. */
function checkDepth(text: string, maxDepth: number): void {
  let depth = 0;
  const tags = /<(\/?)[A-Za-z_][^>]*?(\/?)>/g;
  for (let m = tags.exec(text); m; m = tags.exec(text)) {
    if (m[1]) depth--;
    else if (!m[2]) {
      depth++;
      if (depth > maxDepth) {
        throw new GatewayError('GW_ERR_MALFORMED_PAYLOAD', `XML nesting deeper than ${maxDepth} elements`);
      }
    }
  }
}

/** One builder for every document: a builder keeps nothing between documents. */
const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: ATTRIBUTE_PREFIX,
  format: true,
  indentBy: '  ',
  suppressEmptyNode: true,
  processEntities: false,
  tagValueProcessor: (_name: string, value: unknown) => escapeText(String(value)),
  attributeValueProcessor: (_name: string, value: unknown) => escapeAttribute(String(value)),
});

export function buildXmlDialect(root: XmlNode): Buffer {
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n${builder.build(root)}`, 'utf8');
}

/** `Einwohner.Staatsang[0]` under root `MeldeVorgang` → `/MeldeVorgang/Einwohner/Staatsang[1]` (XPath-like, 1-based). */
export function xmlField(root: string): (path: string) => string {
  return (path) => {
    const steps = path
      .split('.')
      .filter((s) => s && s !== '#text')
      .map((s) => s.replace(/\[(\d+)\]/g, (_m, i: string) => `[${Number(i) + 1}]`));
    return `/${[root, ...steps].join('/')}`;
  };
}

export interface XmlDialectFormatOptions extends XmlDialectOptions {
  /** Local name of the root element. */
  root: string;
  /** Default namespace written on the root (and ignored when reading: dialects are read by local name). */
  namespace?: string;
  /** Fixed attributes written on the root, e.g. `{ '@Version': '3.2' }`. */
  rootAttributes?: Record<string, string>;
}

/** One document per message, the message's fields under the root element. */
export function xmlDialectFormat(options: XmlDialectFormatOptions): NativeFormat {
  const name = xmlField(options.root);
  return {
    describe: `XML dialect <${options.root}> (UTF-8)`,
    contentTypes: ['application/xml', 'text/xml'],
    charset: 'utf-8',
    read(body) {
      const doc = parseXmlDialect(body, options);
      const root = doc[options.root];
      if (root === undefined) {
        const found = Object.keys(doc).find((k) => !k.startsWith('?'));
        throw new GatewayError('GW_ERR_MAPPING_FAILED', `the root element must be ${options.root}`, {
          errors: [
            {
              pointer: '',
              nativeField: found ? `/${found}` : '/',
              detail: `expected root element ${options.root}`,
            },
          ],
        });
      }
      const tree = root && typeof root === 'object' ? (root as XmlNode) : {};
      return [{ tree, ref: `/${options.root}`, nativeName: name }];
    },
    write(trees) {
      const tree = trees[0] ?? {};
      const root: XmlNode = {
        ...(options.namespace ? { '@xmlns': options.namespace } : {}),
        ...tree,
        ...options.rootAttributes,
      };
      return { contentType: 'application/xml', body: buildXmlDialect({ [options.root]: root }) };
    },
    outputName: name,
  };
}
