/**
 * The XML mapping of every catalogued standard, driven by its zod schema alone.
 *
 * Conventions (the same for every standard, and for the XSDs that describe the same documents):
 * - object keys are the XML element names, in schema key order (xs:sequence);
 * - fields whose schema carries the meta `{ xmlAttribute: true }` (see XML_ATTRIBUTE) are attributes;
 * - arrays are repeated elements, optional fields that are absent are omitted;
 * - booleans are `true` / `false`;
 * - child elements are unqualified (elementFormDefault="unqualified"); only the root element is in the
 *   standard's namespace, with the standard's prefix.
 *
 * `toCanonicalXml` writes the Exclusive XML Canonicalization (exc-c14n, without comments) of the
 * document directly, so the signer can hash it without building a DOM. `fromElement` reads a DOM
 * element back into the plain object, strictly; `validateMessage` runs the zod schema and maps its
 * issues onto gateway errors with RFC 6901 JSON pointers.
 *
 * A schema is compiled into a plan once (cached per schema object); zod types the mapping does not
 * support (unions, records, nullables, …) are rejected when the plan is compiled, not at run time.
 */
import type { Element as XmldomElement } from '@xmldom/xmldom';
import { z } from 'zod';
import { type FieldError, GatewayError } from '../../gateway/errors/catalogue.ts';
import type { MessageTypeSpec, XoevMessage } from '../catalogue.ts';

export const XMLDSIG_NAMESPACE = 'http://www.w3.org/2000/09/xmldsig#';

// ---------------------------------------------------------------------------------------------
// JSON pointers (RFC 6901)

/** `['person', 'staatsangehoerigkeit', 1]` → `/person/staatsangehoerigkeit/1`; `~` → `~0`, `/` → `~1`. */
export function jsonPointer(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    out += `/${String(segment).replaceAll('~', '~0').replaceAll('/', '~1')}`;
  }
  return out;
}

function schemaError(path: readonly PropertyKey[], detail: string, summary?: string): GatewayError {
  const pointer = jsonPointer(path);
  return new GatewayError('GW_ERR_SCHEMA_INVALID', summary ?? `${pointer || '/'}: ${detail}`, {
    errors: [{ pointer, detail }],
  });
}

// ---------------------------------------------------------------------------------------------
// Plans

type ScalarKind = 'string' | 'boolean' | 'number';

interface ScalarPlan {
  kind: 'scalar';
  type: ScalarKind;
  /** For literals and enums: the lexical form → value. */
  values?: Map<string, unknown>;
}

interface ComplexPlan {
  kind: 'complex';
  /** Attribute fields sorted as exc-c14n sorts unqualified attributes (by local name, code point order). */
  attributes: FieldPlan[];
  /** Element fields in schema key order. */
  elements: FieldPlan[];
  attributeByName: Map<string, FieldPlan>;
  elementIndex: Map<string, number>;
}

type Plan = ScalarPlan | ComplexPlan;

interface FieldPlan {
  key: string;
  optional: boolean;
  array: boolean;
  attribute: boolean;
  plan: Plan;
  /** Precomputed `<key>` / `</key>` (elements) or ` key="` (attributes). */
  open: string;
  close: string;
}

interface AnySchema {
  _zod: { def: Record<string, unknown> & { type: string } };
}

// An XML 1.0 NCName (without the astral ranges, which no standard here needs).
const NCNAME =
  /^[A-Z_a-z\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02FF\u0370-\u037D\u037F-\u1FFF\u200C-\u200D\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF\uFDF0-\uFFFD][-.0-9A-Z_a-z\u00B7\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u037D\u037F-\u1FFF\u200C-\u200D\u203F-\u2040\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF\uFDF0-\uFFFD]*$/;

const planCache = new WeakMap<object, ComplexPlan>();

function metaOf(schema: AnySchema): Record<string, unknown> | undefined {
  return z.globalRegistry.get(schema as unknown as z.ZodType) as Record<string, unknown> | undefined;
}

interface Unwrapped {
  core: AnySchema;
  optional: boolean;
  array: boolean;
  attribute: boolean;
}

/**
 * Peels the wrappers off a field schema. Meta is looked up on every layer: `x.meta(m).optional()`
 * keeps `m` on the inner schema, `x.optional().meta(m)` on the wrapper; both count.
 */
function unwrap(schema: AnySchema, path: readonly PropertyKey[]): Unwrapped {
  let s = schema;
  let optional = false;
  let array = false;
  let attribute = false;
  for (let depth = 0; depth < 64; depth++) {
    if (metaOf(s)?.xmlAttribute === true) attribute = true;
    const def = s._zod.def;
    switch (def.type) {
      case 'optional':
      case 'default':
      case 'prefault':
        if (array) throw unsupported(path, 'optional array elements');
        optional = true;
        s = def.innerType as AnySchema;
        continue;
      case 'nonoptional':
        optional = false;
        s = def.innerType as AnySchema;
        continue;
      case 'readonly':
      case 'catch':
        s = def.innerType as AnySchema;
        continue;
      case 'pipe': {
        // The document is the input side; z.preprocess (a transform piped into a schema) is described by its output side.
        const input = def.in as AnySchema;
        s = input._zod.def.type === 'transform' ? (def.out as AnySchema) : input;
        continue;
      }
      case 'lazy':
        s = (def.getter as () => AnySchema)();
        continue;
      case 'array':
        if (array) throw unsupported(path, 'nested arrays');
        array = true;
        s = def.element as AnySchema;
        continue;
      default:
        return { core: s, optional, array, attribute };
    }
  }
  throw unsupported(path, 'schema nesting deeper than 64 wrappers');
}

function unsupported(path: readonly PropertyKey[], what: string): Error {
  return new Error(`xml-codec: ${what} cannot be mapped to XML (at ${jsonPointer(path) || '/'})`);
}

function compileScalar(core: AnySchema, path: readonly PropertyKey[]): ScalarPlan | undefined {
  const def = core._zod.def;
  switch (def.type) {
    case 'string':
    case 'template_literal':
      return { kind: 'scalar', type: 'string' };
    case 'boolean':
      return { kind: 'scalar', type: 'boolean' };
    case 'number':
      return { kind: 'scalar', type: 'number' };
    case 'literal':
    case 'enum': {
      const raw = def.type === 'literal' ? (def.values as unknown[]) : Object.values(def.entries as object);
      const types = new Set(raw.map((v) => typeof v));
      if (types.size !== 1) throw unsupported(path, 'literals of mixed types');
      const type = [...types][0];
      if (type !== 'string' && type !== 'boolean' && type !== 'number')
        throw unsupported(path, `${type} literals`);
      return { kind: 'scalar', type, values: new Map(raw.map((v) => [String(v), v])) };
    }
    default:
      return undefined;
  }
}

/**
 * Compiles an object schema. Plans go into `pending` before their fields are compiled, so that
 * recursive (z.lazy) schemas terminate; the caller commits `pending` to the cache only when the
 * whole root compiled, so a schema that cannot be mapped fails again next time.
 */
function compileComplex(
  schema: AnySchema,
  path: PropertyKey[],
  pending: Map<object, ComplexPlan>,
): ComplexPlan {
  const known = planCache.get(schema) ?? pending.get(schema);
  if (known) return known;
  const def = schema._zod.def;
  if (def.type !== 'object') throw unsupported(path, `zod type ${def.type}`);
  const plan: ComplexPlan = {
    kind: 'complex',
    attributes: [],
    elements: [],
    attributeByName: new Map(),
    elementIndex: new Map(),
  };
  pending.set(schema, plan);
  for (const [key, fieldSchema] of Object.entries(def.shape as Record<string, AnySchema>)) {
    const fieldPath = [...path, key];
    if (!NCNAME.test(key)) throw unsupported(fieldPath, `key ${JSON.stringify(key)} (not an XML name)`);
    const u = unwrap(fieldSchema, fieldPath);
    const fieldPlan: Plan = compileScalar(u.core, fieldPath) ?? compileComplex(u.core, fieldPath, pending);
    if (u.attribute) {
      if (fieldPlan.kind !== 'scalar' || u.array) {
        throw unsupported(fieldPath, 'an attribute that is not a single scalar');
      }
      const f: FieldPlan = {
        key,
        optional: u.optional,
        array: false,
        attribute: true,
        plan: fieldPlan,
        open: ` ${key}="`,
        close: '"',
      };
      plan.attributes.push(f);
    } else {
      const f: FieldPlan = {
        key,
        optional: u.optional,
        array: u.array,
        attribute: false,
        plan: fieldPlan,
        open: `<${key}>`,
        close: `</${key}>`,
      };
      plan.elements.push(f);
    }
  }
  // exc-c14n sorts unqualified attributes by local name in code point order; for the BMP-only names
  // NCNAME admits (no surrogates), UTF-16 code unit order is the same.
  plan.attributes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const a of plan.attributes) plan.attributeByName.set(a.key, a);
  for (const [i, e] of plan.elements.entries()) plan.elementIndex.set(e.key, i);
  return plan;
}

function rootPlan(spec: MessageTypeSpec): ComplexPlan {
  const schema = spec.schema as unknown as AnySchema;
  const cached = planCache.get(schema);
  if (cached) return cached;
  const u = unwrap(schema, []);
  if (u.optional || u.array || u.attribute) {
    throw unsupported([], 'a root schema that is optional, an array or an attribute');
  }
  const pending = new Map<object, ComplexPlan>();
  const plan = compileComplex(u.core, [], pending);
  for (const [s, p] of pending) planCache.set(s, p);
  planCache.set(schema, plan);
  return plan;
}

// ---------------------------------------------------------------------------------------------
// Characters and escaping (exc-c14n)

/** Anything outside the XML 1.0 Char production, including lone surrogates. */
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
/**
 * Characters an XML parser does not hand back as written: @xmldom/xmldom (which reads every signed
 * document) normalises NEL U+0085, LINE SEPARATOR U+2028 and PARAGRAPH SEPARATOR U+2029 to a line
 * feed in text and to a space in attributes, as XML 1.1 end-of-line handling does (XML 1.0 leaves
 * them alone, so other parsers differ). A field holding one would not survive sign → parse → read
 * (DESIGN.md invariant 4), and exc-c14n writes them literally, so a character reference in the
 * document would not help once canonicalized. Such values are refused, at validation and in the
 * codec, with GW_ERR_SCHEMA_INVALID and the field's pointer. (CR survives: exc-c14n and this codec
 * write it as &#xD;; tab and line feed in attributes as &#x9; and &#xA;.) So is U+FFFD, which the
 * hardened parser (gateway/xml/safe-parse.ts) refuses as a sign of broken encoding: a document
 * holding it could be sealed but never read back.
 */
export const PARSER_NORMALISED_CHAR = /[\u0085\u2028\u2029]/;
const TEXT_SPECIAL = /[&<>\r]/;
const ATTR_SPECIAL = /[&<"\t\n\r]/;
const TEXT_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#xD;' };
const ATTR_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '"': '&quot;',
  '\t': '&#x9;',
  '\n': '&#xA;',
  '\r': '&#xD;',
};

function escapeText(s: string): string {
  return TEXT_SPECIAL.test(s) ? s.replace(/[&<>\r]/g, (c) => TEXT_ESCAPES[c]!) : s;
}

function escapeAttribute(s: string): string {
  return ATTR_SPECIAL.test(s) ? s.replace(/[&<"\t\n\r]/g, (c) => ATTR_ESCAPES[c]!) : s;
}

function describeChar(s: string, pattern: RegExp = NOT_XML_CHAR): string {
  const m = pattern.exec(s)!;
  const cp = m[0].codePointAt(0)!;
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')} at index ${m.index}`;
}

/**
 * A quick first test for stringProblem: matches every character it objects to (NOT_XML_CHAR,
 * PARSER_NORMALISED_CHAR, U+FFFD) and, being a plain BMP class, every surrogate as well, paired or
 * not; the exact tests run only on a match. Almost every value has none of these, and this one
 * test is all such a value costs (half of what the same class costs in unicode mode).
 */
const MAYBE_PROBLEM_CHAR = /[^\t\n\r\u0020-\u0084\u0086-\u2027\u202A-\uD7FF\uE000-\uFFFC]/;

/**
 * MAYBE_PROBLEM_CHAR plus what escapeText / escapeAttribute replace: the writer writes a string
 * value without any of these as it is, after this one test (instead of one for problems and one for
 * escaping).
 */
const TEXT_NEEDS_CARE =
  /[^\t\n\u0020-\u0025\u0027-\u003B\u003D\u003F-\u0084\u0086-\u2027\u202A-\uD7FF\uE000-\uFFFC]/;
const ATTRIBUTE_NEEDS_CARE =
  /[^\u0020-\u0021\u0023-\u0025\u0027-\u003B\u003D-\u0084\u0086-\u2027\u202A-\uD7FF\uE000-\uFFFC]/;

/** The problem with a string value, if it cannot be carried through XML unchanged. */
function stringProblem(value: string): string | undefined {
  if (!MAYBE_PROBLEM_CHAR.test(value)) return undefined;
  if (NOT_XML_CHAR.test(value)) {
    return `contains a character not allowed in XML 1.0 (${describeChar(value)})`;
  }
  if (PARSER_NORMALISED_CHAR.test(value)) {
    return `contains ${describeChar(value, PARSER_NORMALISED_CHAR)}, a line break that XML parsers turn into a line feed or space; not accepted`;
  }
  if (value.includes('\uFFFD')) {
    return `contains U+FFFD at index ${value.indexOf('\uFFFD')}, the mark of a character lost to a wrong encoding (the gateway's XML parser refuses it); not accepted`;
  }
  return undefined;
}

/**
 * Whether any string in `value` matches MAYBE_PROBLEM_CHAR: the walk every message pays, without
 * paths; the one that names the culprits (unrepresentableStrings) runs only when this finds one.
 * Inherited keys are not skipped here: they can only add strings to look at, never hide one.
 */
function hasSuspectString(value: unknown): boolean {
  if (typeof value === 'string') return MAYBE_PROBLEM_CHAR.test(value);
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (hasSuspectString(value[i])) return true;
    }
    return false;
  }
  for (const key in value) {
    if (hasSuspectString((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

/**
 * Every string in a validated message that cannot be carried through XML unchanged, with its
 * pointer. `path` is the value's, extended and restored in place (no copy per node).
 */
function unrepresentableStrings(value: unknown, path: PropertyKey[], errors: FieldError[]): void {
  if (typeof value === 'string') {
    const problem = stringProblem(value);
    if (problem) errors.push({ pointer: jsonPointer(path), detail: problem });
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      unrepresentableStrings(value[i], path, errors);
      path.pop();
    }
  } else if (typeof value === 'object' && value !== null) {
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      path.push(key);
      unrepresentableStrings((value as Record<string, unknown>)[key], path, errors);
      path.pop();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

function lexical(plan: ScalarPlan, value: unknown, path: PropertyKey[]): string {
  switch (plan.type) {
    case 'string':
      if (typeof value !== 'string') throw schemaError(path, `expected a string, got ${typeOf(value)}`);
      {
        const problem = stringProblem(value);
        if (problem) throw schemaError(path, problem);
      }
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw schemaError(path, `expected a boolean, got ${typeOf(value)}`);
      return value ? 'true' : 'false';
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw schemaError(path, `expected a finite number, got ${typeOf(value)}`);
      }
      return String(value);
  }
}

function typeOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

function asRecord(value: unknown, path: PropertyKey[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw schemaError(path, `expected an object, got ${typeOf(value)}`);
  }
  return value as Record<string, unknown>;
}

function writeAttributes(plan: ComplexPlan, obj: Record<string, unknown>, path: PropertyKey[]): string {
  let out = '';
  for (const f of plan.attributes) {
    const v = obj[f.key];
    if (v === undefined) {
      if (f.optional) continue;
      path.push(f.key);
      throw schemaError(path, 'is required');
    }
    if (typeof v === 'string' && (f.plan as ScalarPlan).type === 'string' && !ATTRIBUTE_NEEDS_CARE.test(v)) {
      out += f.open + v + f.close;
      continue;
    }
    path.push(f.key);
    out += f.open + escapeAttribute(lexical(f.plan as ScalarPlan, v, path)) + f.close;
    path.pop();
  }
  return out;
}

function writeChildren(plan: ComplexPlan, obj: Record<string, unknown>, path: PropertyKey[]): string {
  let out = '';
  for (const f of plan.elements) {
    const v = obj[f.key];
    path.push(f.key);
    if (v === undefined) {
      if (!f.optional) throw schemaError(path, 'is required');
    } else if (f.array) {
      if (!Array.isArray(v)) throw schemaError(path, `expected an array, got ${typeOf(v)}`);
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        out += writeElement(f, v[i], path);
        path.pop();
      }
    } else {
      out += writeElement(f, v, path);
    }
    path.pop();
  }
  return out;
}

function writeElement(f: FieldPlan, value: unknown, path: PropertyKey[]): string {
  if (f.plan.kind === 'scalar') {
    if (typeof value === 'string' && f.plan.type === 'string' && !TEXT_NEEDS_CARE.test(value)) {
      return f.open + value + f.close;
    }
    return f.open + escapeText(lexical(f.plan, value, path)) + f.close;
  }
  const obj = asRecord(value, path);
  if (f.plan.attributes.length === 0) return f.open + writeChildren(f.plan, obj, path) + f.close;
  return `<${f.key}${writeAttributes(f.plan, obj, path)}>${writeChildren(f.plan, obj, path)}${f.close}`;
}

/**
 * The message as its exc-c14n canonical XML (without comments): what the signer hashes. The message
 * is expected to be valid (validateMessage); the writer only checks types, required fields and
 * XML 1.0 characters, and throws GatewayError GW_ERR_SCHEMA_INVALID with a JSON pointer otherwise.
 */
export function toCanonicalXml(spec: MessageTypeSpec, message: XoevMessage): string {
  const plan = rootPlan(spec);
  const path: PropertyKey[] = [];
  const obj = asRecord(message, path);
  const qname = `${spec.prefix}:${spec.name}`;
  return (
    `<${qname} xmlns:${spec.prefix}="${escapeAttribute(spec.namespace)}"${writeAttributes(plan, obj, path)}>` +
    `${writeChildren(plan, obj, path)}</${qname}>`
  );
}

// ---------------------------------------------------------------------------------------------
// Reading

/**
 * The little of the W3C DOM the reader uses; xmldom's and the platform's nodes both have it, and
 * so do the read-only nodes of the gateway's own-seal parser (gateway/signing/own-seal.ts).
 */
interface DomNode {
  readonly nodeType: number;
  readonly nodeName: string;
  readonly nodeValue: string | null;
  readonly firstChild: DomNode | null;
  readonly nextSibling: DomNode | null;
}
interface DomAttr {
  readonly name: string;
  readonly nodeName: string;
  readonly value: string;
  readonly prefix: string | null;
  readonly localName: string | null;
  readonly namespaceURI: string | null;
}
interface DomElement extends DomNode {
  readonly localName: string | null;
  readonly namespaceURI: string | null;
  readonly attributes: { readonly length: number; readonly [index: number]: DomAttr | undefined };
}

export type { DomAttr as ReadableAttr, DomElement as ReadableElement, DomNode as ReadableNode };

/** A DOM element from @xmldom/xmldom or any W3C DOM, or any node with the reader's subset of it. */
export type XmlElement = Element | XmldomElement | DomElement;

const ELEMENT_NODE = 1;
const TEXT_NODE = 3;
const CDATA_SECTION_NODE = 4;
const PROCESSING_INSTRUCTION_NODE = 7;
const COMMENT_NODE = 8;
const XML_WHITESPACE = /^[ \t\r\n]*$/;
const XMLNS_NAMESPACE = 'http://www.w3.org/2000/xmlns/';

function isNamespaceDeclaration(attr: DomAttr): boolean {
  return attr.namespaceURI === XMLNS_NAMESPACE || attr.name === 'xmlns' || attr.prefix === 'xmlns';
}

function expandedName(node: {
  namespaceURI: string | null;
  localName: string | null;
  nodeName: string;
}): string {
  return node.namespaceURI ? `{${node.namespaceURI}}${node.localName}` : (node.localName ?? node.nodeName);
}

function parseScalar(plan: ScalarPlan, text: string, path: PropertyKey[]): unknown {
  const problem = stringProblem(text);
  if (problem) throw schemaError(path, problem);
  if (plan.values) {
    // Unknown literal text is kept as a string, so that zod names the expected value.
    const v = plan.values.get(text);
    if (v !== undefined || plan.type === 'string') return v ?? text;
  }
  switch (plan.type) {
    case 'string':
      return text;
    case 'boolean':
      if (text === 'true') return true;
      if (text === 'false') return false;
      throw schemaError(path, `must be true or false, got ${JSON.stringify(text)}`);
    case 'number': {
      if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(text)) {
        throw schemaError(path, `must be a number, got ${JSON.stringify(text)}`);
      }
      return Number(text);
    }
  }
}

function readLeaf(f: FieldPlan, el: DomElement, path: PropertyKey[]): unknown {
  const attrs = el.attributes;
  for (let i = 0; i < attrs.length; i++) {
    const a = attrs[i]!;
    if (!isNamespaceDeclaration(a)) {
      throw schemaError([...path, a.localName ?? a.name], `unknown attribute ${expandedName(a)}`);
    }
  }
  let text = '';
  for (let n = el.firstChild; n; n = n.nextSibling) {
    switch (n.nodeType) {
      case TEXT_NODE:
      case CDATA_SECTION_NODE:
        text += n.nodeValue ?? '';
        break;
      case COMMENT_NODE:
        break;
      case ELEMENT_NODE:
        throw schemaError(
          path,
          `unexpected element ${expandedName(n as DomElement)} in a simple-content element`,
        );
      default:
        throw schemaError(path, `unexpected node ${n.nodeName} (type ${n.nodeType})`);
    }
  }
  return parseScalar(f.plan as ScalarPlan, text, path);
}

function readComplex(
  plan: ComplexPlan,
  el: DomElement,
  path: PropertyKey[],
  isRoot: boolean,
): Record<string, unknown> {
  const obj: Record<string, unknown> = {};
  const attrs = el.attributes;
  for (let i = 0; i < attrs.length; i++) {
    const a = attrs[i]!;
    if (isNamespaceDeclaration(a)) continue;
    const name = a.localName ?? a.name;
    const f = a.namespaceURI ? undefined : plan.attributeByName.get(name);
    path.push(name);
    if (!f) throw schemaError(path, `unknown attribute ${expandedName(a)}`);
    obj[f.key] = parseScalar(f.plan as ScalarPlan, a.value, path);
    path.pop();
  }

  let last = -1;
  for (let n = el.firstChild; n; n = n.nextSibling) {
    switch (n.nodeType) {
      case ELEMENT_NODE:
        break;
      case TEXT_NODE:
      case CDATA_SECTION_NODE:
        if (!XML_WHITESPACE.test(n.nodeValue ?? '')) {
          throw schemaError(
            path,
            `unexpected text ${JSON.stringify(truncate(n.nodeValue ?? ''))} in element-only content`,
          );
        }
        continue;
      case COMMENT_NODE:
        continue;
      case PROCESSING_INSTRUCTION_NODE:
        throw schemaError(path, `unexpected processing instruction <?${n.nodeName}?>`);
      default:
        throw schemaError(path, `unexpected node ${n.nodeName} (type ${n.nodeType})`);
    }
    const child = n as DomElement;
    const name = child.localName ?? child.nodeName;
    if (child.namespaceURI !== null && child.namespaceURI !== '') {
      if (isRoot && child.namespaceURI === XMLDSIG_NAMESPACE && name === 'Signature' && !nextElement(child)) {
        continue; // the enveloped signature, verified elsewhere
      }
      throw schemaError(
        [...path, name],
        `unknown element ${expandedName(child)} (child elements are unqualified)`,
      );
    }
    const index = plan.elementIndex.get(name);
    if (index === undefined) throw schemaError([...path, name], `unknown element ${name}`);
    const f = plan.elements[index]!;
    path.push(name);
    if (index < last || (index === last && !f.array)) {
      const detail =
        index === last
          ? `element ${name} occurs more than once`
          : `element ${name} is out of order; expected order: ${plan.elements.map((e) => e.key).join(', ')}`;
      throw schemaError(path, detail);
    }
    last = index;
    if (f.array) {
      let list = obj[name] as unknown[] | undefined;
      if (!list) obj[name] = list = [];
      path.push(list.length);
      list.push(
        f.plan.kind === 'scalar' ? readLeaf(f, child, path) : readComplex(f.plan, child, path, false),
      );
      path.pop();
    } else {
      obj[name] =
        f.plan.kind === 'scalar' ? readLeaf(f, child, path) : readComplex(f.plan, child, path, false);
    }
    path.pop();
  }
  // A required repeated element that is absent reads as [], so that zod reports "too small" at the array.
  for (const f of plan.elements) if (f.array && !f.optional && obj[f.key] === undefined) obj[f.key] = [];
  return obj;
}

function nextElement(node: DomNode): DomNode | null {
  for (let n = node.nextSibling; n; n = n.nextSibling) if (n.nodeType === ELEMENT_NODE) return n;
  return null;
}

function truncate(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/**
 * Reads the root element of a message (xmldom or any W3C DOM) into the plain object the zod schema
 * parses. Strict: a wrong root, unknown or misplaced elements and attributes, text in element-only
 * content or characters outside XML 1.0 throw GatewayError GW_ERR_SCHEMA_INVALID with a JSON pointer.
 * A trailing ds:Signature child of the root is skipped. The caller zod-parses the result.
 */
export function fromElement(spec: MessageTypeSpec, element: XmlElement): unknown {
  const root = element as unknown as DomElement;
  if (root.namespaceURI !== spec.namespace || root.localName !== spec.name) {
    throw schemaError(
      [],
      `expected root element {${spec.namespace}}${spec.name}, got ${expandedName(root)}`,
      `The document is not a ${spec.id} message`,
    );
  }
  return readComplex(rootPlan(spec), root, [], true);
}

// ---------------------------------------------------------------------------------------------
// Validation

const compiledSchemas = new WeakMap<object, z.ZodType<XoevMessage>>();

/**
 * The message type's schema with zod's compiled fast path (z.compile, once per schema): a valid
 * message is parsed by generated code; anything the fast path rejects is parsed again by the
 * schema's own runtime parser, which reports the issues, so errors are the runtime's exactly. A
 * schema zod cannot compile comes back unchanged (z.compile never throws without `strict`).
 */
function compiledSchema(schema: z.ZodType<XoevMessage>): z.ZodType<XoevMessage> {
  let compiled = compiledSchemas.get(schema);
  if (!compiled) {
    compiled = z.compile(schema);
    compiledSchemas.set(schema, compiled);
  }
  return compiled;
}

/**
 * Parses `value` with the message type's zod schema. On failure throws GatewayError with
 * GW_ERR_CODE_NOT_IN_LIST if any issue comes from a code-list check, else GW_ERR_SCHEMA_INVALID;
 * `errors` lists every issue with its JSON pointer. Also checks that the header's nachrichtentyp
 * code is the code of this message type.
 */
export function validateMessage(spec: MessageTypeSpec, value: unknown): XoevMessage {
  const result = compiledSchema(spec.schema).safeParse(value);
  if (!result.success) {
    const errors: FieldError[] = [];
    let codeList = false;
    for (const issue of result.error.issues) {
      errors.push({ pointer: jsonPointer(issue.path), detail: issue.message });
      const params = (issue as { params?: { gatewayCode?: unknown } }).params;
      if (issue.code === 'custom' && params?.gatewayCode === 'GW_ERR_CODE_NOT_IN_LIST') codeList = true;
    }
    const first = errors[0]!;
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
    throw new GatewayError(
      codeList ? 'GW_ERR_CODE_NOT_IN_LIST' : 'GW_ERR_SCHEMA_INVALID',
      `${spec.id}: ${first.pointer || '/'}: ${first.detail}${more}`,
      { errors },
    );
  }
  const message = result.data;
  const unrepresentable: FieldError[] = [];
  if (hasSuspectString(message)) unrepresentableStrings(message, [], unrepresentable);
  if (unrepresentable.length > 0) {
    const first = unrepresentable[0]!;
    const more = unrepresentable.length > 1 ? ` (and ${unrepresentable.length - 1} more)` : '';
    throw new GatewayError(
      'GW_ERR_SCHEMA_INVALID',
      `${spec.id}: ${first.pointer || '/'}: ${first.detail}${more}`,
      {
        errors: unrepresentable,
      },
    );
  }
  const typ = message['nachrichtenkopf.g2g']?.['identifikation.nachricht']?.nachrichtentyp?.code;
  if (typ !== spec.code) {
    throw schemaError(
      ['nachrichtenkopf.g2g', 'identifikation.nachricht', 'nachrichtentyp', 'code'],
      `must be ${spec.code} for ${spec.name}, got ${JSON.stringify(typ)}`,
      `${spec.id}: the header names message type ${JSON.stringify(typ)}`,
    );
  }
  return message;
}
