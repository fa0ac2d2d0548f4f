/**
 * Legacy XML dialects of Länder systems, read with fast-xml-parser. Its parse() is lenient (it
 * accepts broken documents), so every document is validated first, and DOCTYPEs are refused
 * outright: a dialect never needs one, and entities are the classic XXE / billion-laughs vector.
 */
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { GatewayError } from '../../../gateway/errors/catalogue.ts';
import { decodeUtf8 } from './text.ts';

export interface XmlDialectOptions {
  /** Element names (local) that may repeat and are always read as arrays. */
  arrays?: string[];
  /** Maximum element nesting, to refuse pathological documents cheaply. */
  maxDepth?: number;
}

export type XmlNode = Record<string, unknown>;

const ATTRIBUTE_PREFIX = '@';

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
  const arrays = new Set(options.arrays ?? []);
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: ATTRIBUTE_PREFIX,
    removeNSPrefix: true,
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: true,
    processEntities: true,
    htmlEntities: false,
    ignoreDeclaration: true,
    ignorePiTags: true,
    isArray: (name) => arrays.has(name),
  });
  return parser.parse(text) as XmlNode;
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

export function buildXmlDialect(root: XmlNode): Buffer {
  const builder = new XMLBuilder({
    ignoreAttributes: false,
    attributeNamePrefix: ATTRIBUTE_PREFIX,
    format: true,
    indentBy: '  ',
    suppressEmptyNode: true,
    processEntities: true,
  });
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n${builder.build(root)}`, 'utf8');
}
