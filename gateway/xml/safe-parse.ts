/**
 * The one way the gateway parses XML it did not build itself (signed documents, legacy XML
 * dialects). A linear pre-scan of the raw text rejects the dangerous constructs BEFORE any parser
 * sees them; the parse itself treats every xmldom warning and error as fatal.
 *
 * Why each check exists:
 * - DOCTYPE: the document type declaration is where every DTD attack lives — external entities
 *   (XXE: `<!ENTITY x SYSTEM "file:///etc/passwd">` reads files or makes requests), entity expansion
 *   ("billion laughs": nested internal entities expand a few hundred bytes to gigabytes), and
 *   ATTLIST declarations that make an attribute an ID. The last one enables signature wrapping:
 *   two implementations that disagree on which attribute is an ID resolve `#id` references to
 *   different elements, so one verifies element A while the application reads element B.
 *   Government XML exchanged here is validated against XSDs, never DTDs: no DOCTYPE is needed.
 * - <!ENTITY/<!ELEMENT/<!ATTLIST/<!NOTATION and conditional sections: only legal inside a DTD;
 *   rejected by name wherever they appear so the error says what was found.
 * - Processing instructions other than the leading XML declaration: `<?xml-stylesheet?>` makes
 *   downstream tools fetch and execute XSLT; PIs are outside what a signature's canonical form
 *   covers in some configurations, i.e. a place to smuggle unsigned content. Nobody needs them.
 * - Nesting depth (default 64): canonicalisation, signature processing and mapping walk the tree
 *   recursively; a deeply nested document is a cheap stack-exhaustion / CPU attack.
 * - Attributes per element (default 64): bounds per-element work (duplicate and namespace checks).
 * - Size (default 8 MiB): bounds memory; the HTTP layer has its own body limit, this one protects
 *   callers that read XML from the bus or files.
 *
 * The scanner skips comments and CDATA sections, so `<!DOCTYPE` written inside a comment is not
 * refused; it refuses declarations in any other position (including ones a parser would treat as
 * text errors). It does not validate well-formedness — xmldom does that afterwards.
 */
import { DOMParser } from '@xmldom/xmldom';
import { GatewayError } from '../errors/catalogue.ts';

export interface XmlLimits {
  /** Maximum UTF-8 size of the document. */
  maxBytes: number;
  /** Maximum element nesting depth (the root element is depth 1). */
  maxDepth: number;
  /** Maximum attributes (including namespace declarations) on one element. */
  maxAttributes: number;
}

export const DEFAULT_XML_LIMITS: XmlLimits = { maxBytes: 8 * 1024 * 1024, maxDepth: 64, maxAttributes: 64 };

/** Tokens that start the detail of a GW_ERR_XML_FORBIDDEN_CONSTRUCT error. */
export const FORBIDDEN_XML_CONSTRUCTS = [
  'doctype',
  'entity-declaration',
  'element-declaration',
  'attlist-declaration',
  'notation-declaration',
  'conditional-section',
  'markup-declaration',
  'processing-instruction',
] as const;
export type ForbiddenXmlConstruct = (typeof FORBIDDEN_XML_CONSTRUCTS)[number];

function forbidden(construct: ForbiddenXmlConstruct, what: string, offset: number): GatewayError {
  return new GatewayError('GW_ERR_XML_FORBIDDEN_CONSTRUCT', `${construct}: ${what} at offset ${offset}`);
}

const DECLARATIONS: [string, ForbiddenXmlConstruct, string][] = [
  ['DOCTYPE', 'doctype', 'a DOCTYPE declaration (DTDs enable XXE, entity expansion and ID redefinition)'],
  ['ENTITY', 'entity-declaration', 'an ENTITY declaration (XXE / entity expansion)'],
  ['ELEMENT', 'element-declaration', 'an ELEMENT declaration'],
  ['ATTLIST', 'attlist-declaration', 'an ATTLIST declaration (can redefine ID attributes)'],
  ['NOTATION', 'notation-declaration', 'a NOTATION declaration'],
];

/**
 * Rejects forbidden constructs and enforces the structural limits on the raw text, in one pass.
 * Exported for callers that want the check without building a DOM.
 */
export function prescanXml(xml: string, limits: XmlLimits = DEFAULT_XML_LIMITS): void {
  const n = xml.length;
  // A UTF-16 code unit is at most 3 UTF-8 bytes: only count exactly when it could matter.
  if (n * 3 > limits.maxBytes && Buffer.byteLength(xml, 'utf8') > limits.maxBytes) {
    throw new GatewayError('GW_ERR_PAYLOAD_TOO_LARGE', `the XML document exceeds ${limits.maxBytes} bytes`);
  }
  const start = xml.charCodeAt(0) === 0xfeff ? 1 : 0;
  let depth = 0;
  let i = xml.indexOf('<', start);
  while (i !== -1 && i < n) {
    const next = xml.charCodeAt(i + 1);
    if (next === 0x21 /* ! */) {
      if (xml.startsWith('<!--', i)) {
        const end = xml.indexOf('-->', i + 4);
        if (end === -1) throw malformed('unterminated comment', i);
        i = xml.indexOf('<', end + 3);
        continue;
      }
      if (xml.startsWith('<![CDATA[', i)) {
        const end = xml.indexOf(']]>', i + 9);
        if (end === -1) throw malformed('unterminated CDATA section', i);
        i = xml.indexOf('<', end + 3);
        continue;
      }
      if (xml.startsWith('<![', i)) throw forbidden('conditional-section', 'a DTD conditional section', i);
      const keyword = /^[A-Za-z]*/.exec(xml.slice(i + 2, i + 12))![0].toUpperCase();
      const declaration = DECLARATIONS.find(([k]) => k === keyword);
      if (declaration) throw forbidden(declaration[1], declaration[2], i);
      throw forbidden('markup-declaration', `a markup declaration "<!${keyword}"`, i);
    }
    if (next === 0x3f /* ? */) {
      // Only the XML declaration, and only as the very first thing in the document.
      if (i === start && /^<\?xml[ \t\r\n]/.test(xml.slice(i, i + 6))) {
        const end = xml.indexOf('?>', i + 5);
        if (end === -1) throw malformed('unterminated XML declaration', i);
        i = xml.indexOf('<', end + 2);
        continue;
      }
      const target = /^[^\s?]*/.exec(xml.slice(i + 2, i + 40))![0];
      throw forbidden('processing-instruction', `a processing instruction "<?${target}"`, i);
    }
    if (next === 0x2f /* / */) {
      depth--;
      const end = xml.indexOf('>', i + 2);
      if (end === -1) throw malformed('unterminated end tag', i);
      i = xml.indexOf('<', end + 1);
      continue;
    }
    // A start tag: find its end outside quoted attribute values, counting the values.
    let j = i + 1;
    let attributes = 0;
    let selfClosing = false;
    for (;;) {
      if (j >= n) throw malformed('unterminated start tag', i);
      const c = xml.charCodeAt(j);
      if (c === 0x22 /* " */ || c === 0x27 /* ' */) {
        const close = xml.indexOf(c === 0x22 ? '"' : "'", j + 1);
        if (close === -1) throw malformed('unterminated attribute value', j);
        attributes++;
        j = close + 1;
        continue;
      }
      if (c === 0x3c /* < */) throw malformed('"<" inside a tag', j);
      if (c === 0x3e /* > */) {
        selfClosing = xml.charCodeAt(j - 1) === 0x2f;
        break;
      }
      j++;
    }
    if (attributes > limits.maxAttributes) {
      throw new GatewayError(
        'GW_ERR_XML_LIMIT_EXCEEDED',
        `attributes: an element has ${attributes} attributes, more than ${limits.maxAttributes}, at offset ${i}`,
      );
    }
    if (!selfClosing) {
      depth++;
      if (depth > limits.maxDepth) {
        throw new GatewayError(
          'GW_ERR_XML_LIMIT_EXCEEDED',
          `depth: elements nest deeper than ${limits.maxDepth} levels at offset ${i}`,
        );
      }
    }
    i = xml.indexOf('<', j + 1);
  }
}

/**
 * xmldom turns raw NEL (U+0085), LINE SEPARATOR (U+2028) and PARAGRAPH SEPARATOR (U+2029) into a
 * line feed (XML 1.1 line-end handling applied to XML 1.0), so what the gateway would read differs
 * from the bytes that were sent or signed (invariant 4). Refused instead of silently changed; the
 * codec refuses them in field values too (standards/xoev/xml-codec.ts PARSER_NORMALISED_CHAR).
 */
const PARSER_NORMALISED = /[\u0085\u2028\u2029]/;

function refuseParserNormalisedCharacters(xml: string): void {
  const at = xml.search(PARSER_NORMALISED);
  if (at === -1) return;
  const code = xml.charCodeAt(at).toString(16).toUpperCase().padStart(4, '0');
  throw malformed(`raw U+${code}, which the XML parser would change into a line feed,`, at);
}

function malformed(what: string, offset: number): GatewayError {
  return new GatewayError('GW_ERR_MALFORMED_PAYLOAD', `malformed XML: ${what} at offset ${offset}`);
}

/**
 * Parses untrusted XML into a DOM after prescanXml(). Throws GatewayError:
 * GW_ERR_XML_FORBIDDEN_CONSTRUCT (DOCTYPE, entity declarations, processing instructions),
 * GW_ERR_XML_LIMIT_EXCEEDED (depth, attributes), GW_ERR_PAYLOAD_TOO_LARGE (size) or
 * GW_ERR_MALFORMED_PAYLOAD (anything xmldom reports, warnings included).
 */
export function parseXmlSafely(xml: string, limits?: Partial<XmlLimits>): Document {
  const effective: XmlLimits = { ...DEFAULT_XML_LIMITS, ...limits };
  prescanXml(xml, effective);
  refuseParserNormalisedCharacters(xml);
  let reported: string | undefined;
  const parser = new DOMParser({
    onError: (level: string, message: string) => {
      // Warnings too: xmldom "recovers" from some malformed input by guessing, and a guess is a
      // second interpretation of the same bytes — exactly what signature wrapping feeds on.
      reported ??= `${level}: ${message.split('\n')[0]}`;
      throw new Error(reported);
    },
  });
  let document: Document;
  try {
    document = parser.parseFromString(xml, 'text/xml') as unknown as Document;
  } catch (error) {
    const message = reported ?? (error instanceof Error ? error.message.split('\n')[0] : String(error));
    throw new GatewayError('GW_ERR_MALFORMED_PAYLOAD', `malformed XML: ${message}`, { cause: error });
  }
  if (reported !== undefined) {
    throw new GatewayError('GW_ERR_MALFORMED_PAYLOAD', `malformed XML: ${reported}`);
  }
  if (!document?.documentElement) {
    throw new GatewayError('GW_ERR_MALFORMED_PAYLOAD', 'malformed XML: no root element');
  }
  if (document.doctype) throw forbidden('doctype', 'a DOCTYPE declaration', 0);
  return document;
}
