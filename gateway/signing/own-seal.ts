/**
 * Verification of the gateway's OWN seals (what DocumentSigner.signCanonical produced) without a
 * DOM library and without a canonicalizer — the delivery stage's hot path. Anything that is not
 * exactly that shape goes to the hardened general verifier (verifier.ts), which decides.
 *
 * Why it is safe. signCanonical takes a canonical document C and inserts ONE fixed-format block
 *   <ds:Signature xmlns:ds="…xmldsig#"><ds:SignedInfo>FIXED(alg)<ds:DigestValue>D</ds:DigestValue>
 *   </ds:Reference></ds:SignedInfo><ds:SignatureValue>S</ds:SignatureValue><ds:KeyInfo><ds:X509Data>
 *   <ds:X509Certificate>X</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>
 * directly before the root's end tag, which ends the text (no line breaks in the real block). This
 * path accepts a text only if
 *   1. it ends with exactly that block (one of the two signature methods, canonical base64 for D,
 *      S and X, nothing else in between) followed by an end tag `</Q>` and nothing after it;
 *   2. C := everything before the block + `</Q>` hashes to D (SHA-256) — so C is byte for byte what
 *      the signer digested;
 *   3. X is a certificate that passes the same checks as in the general verifier (chain to a trust
 *      anchor, validity, revocation, pin, key fits the method), and S verifies with its key over the
 *      canonical SignedInfo rebuilt from FIXED(alg) and D — so the key holder signed exactly D;
 *   4. C parses under a strict subset of XML that canonical documents stay inside (parseCanonical
 *      below: no declaration, DOCTYPE, comments, PIs, CDATA, self-closing tags, literal CR, literal
 *      tabs or line breaks in attribute values, prefixed attributes, nor any ds: element); the
 *      content handed to the application is read from THIS parse of C — the very bytes whose
 *      digest was signed. There is no second element a wrapping attack could point the application
 *      at: the signed bytes and the read bytes are the same string.
 * Within that subset the parse equals any conforming XML parser's (no normalization applies: line
 * ends and attribute whitespace are excluded, the only references are the five predefined entities
 * and character references). A standard verifier computes exc-c14n(doc minus Signature) = C for
 * such a document, so both engines agree on validity; tests cross-check the read content against
 * xmldom's and tampered/wrapped variants against the general verifier.
 */
import { createHash, verify as verifySignature, type X509Certificate } from 'node:crypto';
import type { ReadableAttr, ReadableElement, ReadableNode } from '../../standards/xoev/xml-codec.ts';
import {
  SIGNATURE_ECDSA_SHA256,
  SIGNATURE_RSA_SHA256,
  signedInfoBodyHead,
  XMLDSIG_NS,
} from './canonical-signer.ts';
import {
  type CertificateEntry,
  certificateEntry,
  checkCertificate,
  checkKeyFitsMethod,
  type VerifiedDocument,
  type VerifyOptions,
  verifyDocument,
} from './verifier.ts';

/** What the delivery stage needs of a verified seal: the signed root to read, and evidence. */
export interface VerifiedSeal {
  /** The signed document element (a DOM element, or this module's read-only nodes). */
  root: ReadableElement;
  signer: VerifiedDocument['signer'];
  /** Hex SHA-256 of the signed XML exactly as received (UTF-8). */
  digest: string;
  verifiedBy: VerifiedDocument['verifiedBy'] | 'own-seal';
}

interface Method {
  uri: string;
  kind: 'rsa' | 'ec';
  /** SignedInfo's children up to and including `<ds:DigestValue>`. */
  signedInfoBody: string;
}

const METHODS: Method[] = [
  { uri: SIGNATURE_RSA_SHA256, kind: 'rsa' },
  { uri: SIGNATURE_ECDSA_SHA256, kind: 'ec' },
].map((m) => ({
  ...(m as { uri: string; kind: 'rsa' | 'ec' }),
  signedInfoBody: signedInfoBodyHead(m.uri),
}));

const SIGNATURE_OPEN = `<ds:Signature xmlns:ds="${XMLDSIG_NS}"><ds:SignedInfo>`;
const SIGNED_INFO_TAIL = '</ds:DigestValue></ds:Reference></ds:SignedInfo>';
const SIGNATURE_VALUE_OPEN = '<ds:SignatureValue>';
const KEY_INFO_OPEN = '</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>';
const SIGNATURE_CLOSE = '</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const MAX_BYTES = 8 * 1024 * 1024;
const MAX_DEPTH = 64;
/**
 * Characters outside XML 1.0 (lone surrogates included: they would be hashed as U+FFFD but read
 * as themselves), a literal CR (parsers normalize it; canonical text writes &#xD;), and raw
 * U+0085/U+2028/U+2029, which the general path refuses before parsing (xml/safe-parse.ts: xmldom
 * reads them as line feeds) — both engines give the same verdict.
 */
const NOT_CANONICAL_CHAR = /[^\t\n\u0020-\u0084\u0086-\u2027\u202A-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** Canonical base64 of at least one byte, decoded; undefined otherwise. */
function base64(text: string): Buffer | undefined {
  if (text.length === 0 || text.length % 4 !== 0 || !BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

/**
 * Every seal carries one of very few certificates (the current and previous sealing keys): what
 * certificateEntry made of a KeyInfo text (decoded, its issuer among the trust anchors found) is
 * kept per text and anchors, so a seal costs no base64 round trips of its certificate. What depends
 * on the time, the revocation list or the pins (checkCertificate) is still checked on every seal.
 */
const CERTIFICATE_MEMO_SIZE = 8;
const certificateMemo = new Map<string, { anchors: readonly X509Certificate[]; entry: CertificateEntry }>();

function certificateOf(text: string, anchors: readonly X509Certificate[]): CertificateEntry | undefined {
  const memo = certificateMemo.get(text);
  if (memo && memo.anchors.length === anchors.length && memo.anchors.every((a, i) => a === anchors[i]))
    return memo.entry;
  const der = base64(text);
  if (!der) return undefined;
  // Throws for a certificate that cannot be used: the caller leaves the fast path.
  const entry = certificateEntry(der, [...anchors]);
  if (certificateMemo.size >= CERTIFICATE_MEMO_SIZE)
    certificateMemo.delete(certificateMemo.keys().next().value!);
  // Keyed by a fresh copy of the text: a slice would keep the whole document alive.
  certificateMemo.set(der.toString('base64'), { anchors: [...anchors], entry });
  return entry;
}

/**
 * The fast path: the verified seal, or undefined when the text is not exactly one of the gateway's
 * own seals or any check fails (the caller then runs the general verifier, which gives the verdict
 * and the refusal reason).
 */
export function verifyOwnSealFast(xml: string, options: VerifyOptions): VerifiedSeal | undefined {
  if ((options.engine ?? 'auto') !== 'auto') return undefined;
  if (xml.length * 3 > MAX_BYTES && Buffer.byteLength(xml, 'utf8') > MAX_BYTES) return undefined;
  // 1. The block and the root's end tag at the very end.
  const rootEndTag = xml.lastIndexOf('</');
  if (rootEndTag <= 0 || !xml.endsWith('>')) return undefined;
  const blockEnd = rootEndTag;
  if (!xml.startsWith(SIGNATURE_CLOSE, blockEnd - SIGNATURE_CLOSE.length)) return undefined;
  const blockStart = xml.lastIndexOf(SIGNATURE_OPEN, blockEnd);
  if (blockStart <= 0) return undefined;
  let at = blockStart + SIGNATURE_OPEN.length;
  const method = METHODS.find((m) => xml.startsWith(m.signedInfoBody, at));
  if (!method) return undefined;
  at += method.signedInfoBody.length;
  const digestEnd = xml.indexOf('<', at);
  if (digestEnd === -1) return undefined;
  const digestText = xml.slice(at, digestEnd);
  if (!xml.startsWith(SIGNED_INFO_TAIL + SIGNATURE_VALUE_OPEN, digestEnd)) return undefined;
  at = digestEnd + SIGNED_INFO_TAIL.length + SIGNATURE_VALUE_OPEN.length;
  const signatureEnd = xml.indexOf('<', at);
  if (signatureEnd === -1) return undefined;
  const signatureText = xml.slice(at, signatureEnd);
  if (!xml.startsWith(KEY_INFO_OPEN, signatureEnd)) return undefined;
  at = signatureEnd + KEY_INFO_OPEN.length;
  const certificateText = xml.slice(at, blockEnd - SIGNATURE_CLOSE.length);
  const digestValue = base64(digestText);
  const signatureValue = base64(signatureText);
  if (digestValue?.length !== 32 || !signatureValue) return undefined;

  // 2. The reference digest over C, the document without the block. C and the whole text share
  // everything before the block: that part is hashed once, for both digests.
  const head = xml.slice(0, blockStart);
  const tail = xml.slice(blockEnd);
  const wholeHash = createHash('sha256').update(head, 'utf8');
  const canonicalHash = wholeHash.copy().update(tail, 'utf8');
  if (!canonicalHash.digest().equals(digestValue)) return undefined;

  // 3. The certificate (same checks as the general verifier), then the signature over SignedInfo.
  let entry: CertificateEntry | undefined;
  try {
    entry = certificateOf(certificateText, options.trustAnchors);
    if (!entry) return undefined;
    checkCertificate(entry, options, options.now ?? new Date());
    checkKeyFitsMethod(entry.publicKey, { key: method.kind }, signatureValue.length);
  } catch {
    return undefined;
  }
  const signedInfo = `<ds:SignedInfo xmlns:ds="${XMLDSIG_NS}">${method.signedInfoBody}${digestText}${SIGNED_INFO_TAIL}`;
  const valid = verifySignature(
    'sha256',
    Buffer.from(signedInfo, 'utf8'),
    method.kind === 'ec' ? { key: entry.publicKey, dsaEncoding: 'ieee-p1363' } : entry.publicKey,
    signatureValue,
  );
  if (!valid) return undefined;

  // 4. The content, read from the signed bytes themselves.
  const root = parseCanonical(head + tail);
  if (!root) return undefined;
  return {
    root,
    signer: {
      subject: entry.certificate.subject,
      serial: entry.serial,
      fingerprint256: entry.certificate.fingerprint256,
    },
    digest: wholeHash.update(xml.slice(blockStart, blockEnd), 'utf8').update(tail, 'utf8').digest('hex'),
    verifiedBy: 'own-seal',
  };
}

/** Verifies a gateway seal: the fast path for its own canonical seals, else the general verifier. */
export async function verifySeal(xml: string, options: VerifyOptions): Promise<VerifiedSeal> {
  return verifyOwnSealFast(xml, options) ?? (await verifyDocument(xml, options));
}

// ---------------------------------------------------------------------------------------------
// A strict parser for canonical XML

const XMLNS_NAMESPACE = 'http://www.w3.org/2000/xmlns/';
const NAME = /[A-Za-z_][A-Za-z0-9._-]*(?::[A-Za-z_][A-Za-z0-9._-]*)?/y;
const ENTITIES: Record<string, string> = {
  '&amp;': '&',
  '&lt;': '<',
  '&gt;': '>',
  '&quot;': '"',
  '&#xD;': '\r',
  '&#x9;': '\t',
  '&#xA;': '\n',
};
const TEXT_REFERENCES = new Set(['&amp;', '&lt;', '&gt;', '&#xD;']);
const ATTRIBUTE_REFERENCES = new Set(['&amp;', '&lt;', '&gt;', '&quot;', '&#x9;', '&#xA;', '&#xD;']);

class TextNode implements ReadableNode {
  readonly nodeType = 3;
  readonly nodeName = '#text';
  readonly firstChild = null;
  nextSibling: ReadableNode | null = null;
  constructor(readonly nodeValue: string) {}
}

class ElementNode implements ReadableElement {
  readonly nodeType = 1;
  readonly nodeValue = null;
  firstChild: ReadableNode | null = null;
  nextSibling: ReadableNode | null = null;
  lastChild: ReadableNode | null = null;
  constructor(
    readonly nodeName: string,
    readonly prefix: string | null,
    readonly localName: string,
    readonly namespaceURI: string | null,
    readonly attributes: ReadableAttr[],
  ) {}

  append(node: TextNode | ElementNode): void {
    if (this.lastChild) (this.lastChild as TextNode | ElementNode).nextSibling = node;
    else this.firstChild = node;
    this.lastChild = node;
  }
}

/** Text with the references canonical XML writes resolved; undefined for anything else. */
function resolveReferences(raw: string, allowed: Set<string>): string | undefined {
  if (!raw.includes('&')) return raw;
  let out = '';
  let from = 0;
  for (let amp = raw.indexOf('&'); amp !== -1; amp = raw.indexOf('&', from)) {
    const end = raw.indexOf(';', amp);
    if (end === -1) return undefined;
    const reference = raw.slice(amp, end + 1);
    if (!allowed.has(reference)) return undefined;
    out += raw.slice(from, amp) + ENTITIES[reference];
    from = end + 1;
  }
  return out + raw.slice(from);
}

/** True if an attribute named `name` is among `attributes` (an element has only a few). */
function hasAttribute(attributes: readonly ReadableAttr[], name: string): boolean {
  for (const attribute of attributes) if (attribute.name === name) return true;
  return false;
}

const NO_NAMESPACES = new Map<string, string>();

/**
 * Parses text in the canonical subset described at the top of this file into read-only nodes, or
 * returns undefined for anything outside it (never a guess).
 */
export function parseCanonical(xml: string): ElementNode | undefined {
  if (NOT_CANONICAL_CHAR.test(xml)) return undefined;
  // The open elements and their namespace scopes, side by side.
  const open: ElementNode[] = [];
  const scopes: Map<string, string>[] = [];
  let root: ElementNode | undefined;
  let i = 0;
  const n = xml.length;
  while (i < n) {
    const lt = xml.indexOf('<', i);
    if (lt === -1) return undefined;
    if (lt > i) {
      // Text: only inside an element; '>' is written &gt; in canonical text.
      const raw = xml.slice(i, lt);
      if (open.length === 0 || raw.includes('>')) return undefined;
      const text = resolveReferences(raw, TEXT_REFERENCES);
      if (text === undefined) return undefined;
      open[open.length - 1]!.append(new TextNode(text));
    }
    if (xml.charCodeAt(lt + 1) === 0x2f /* / */) {
      const top = open.pop();
      if (!top) return undefined;
      scopes.pop();
      const nameEnd = lt + 2 + top.nodeName.length;
      if (!xml.startsWith(top.nodeName, lt + 2) || xml.charCodeAt(nameEnd) !== 0x3e /* > */) return undefined;
      i = nameEnd + 1;
      if (open.length === 0) {
        if (i !== n) return undefined; // nothing after the root
        return root;
      }
      continue;
    }
    if (root && open.length === 0) return undefined; // a second root
    NAME.lastIndex = lt + 1;
    const nameMatch = NAME.exec(xml);
    if (!nameMatch) return undefined;
    const qname = nameMatch[0];
    let j = lt + 1 + qname.length;
    const parentScope = scopes.length > 0 ? scopes[scopes.length - 1]! : NO_NAMESPACES;
    let scope = parentScope;
    // Declarations come first among an element's attributes, as the DOM lists them.
    const declarations: ReadableAttr[] = [];
    const plain: ReadableAttr[] = [];
    while (xml.charCodeAt(j) === 0x20) {
      NAME.lastIndex = j + 1;
      const attrMatch = NAME.exec(xml);
      if (!attrMatch) return undefined;
      const name = attrMatch[0];
      const valueStart = j + 1 + name.length;
      if (xml.charCodeAt(valueStart) !== 0x3d /* = */ || xml.charCodeAt(valueStart + 1) !== 0x22 /* " */)
        return undefined;
      const valueEnd = xml.indexOf('"', valueStart + 2);
      if (valueEnd === -1) return undefined;
      const raw = xml.slice(valueStart + 2, valueEnd);
      // '<' is always escaped; literal tab / line feed would be normalized to spaces by a parser.
      if (raw.includes('<') || raw.includes('\t') || raw.includes('\n')) return undefined;
      const value = resolveReferences(raw, ATTRIBUTE_REFERENCES);
      if (value === undefined || hasAttribute(declarations, name) || hasAttribute(plain, name))
        return undefined;
      const colon = name.indexOf(':');
      const prefix = colon === -1 ? null : name.slice(0, colon);
      if (name === 'xmlns' || prefix === 'xmlns') {
        const local = colon === -1 ? name : name.slice(colon + 1);
        // Undeclaring, binding the reserved prefixes, or a relative namespace name: not canonical output.
        if (value === '' || value === XMLNS_NAMESPACE) return undefined;
        if (prefix === 'xmlns' && (local === 'xml' || local === 'xmlns')) return undefined;
        if (scope === parentScope) scope = new Map(parentScope);
        scope.set(prefix === null ? '' : local, value);
        declarations.push({
          name,
          nodeName: name,
          value,
          prefix,
          localName: local,
          namespaceURI: XMLNS_NAMESPACE,
        });
      } else {
        // Qualified attributes (xml:*, xsi:*) never occur in the catalogue's documents.
        if (prefix !== null) return undefined;
        plain.push({ name, nodeName: name, value, prefix: null, localName: name, namespaceURI: null });
      }
      j = valueEnd + 1;
    }
    // No self-closing tags: canonical XML writes start and end tags.
    if (xml.charCodeAt(j) !== 0x3e /* > */) return undefined;
    const colon = qname.indexOf(':');
    const prefix = colon === -1 ? null : qname.slice(0, colon);
    const local = colon === -1 ? qname : qname.slice(colon + 1);
    const namespace = prefix === null ? (scope.get('') ?? null) : scope.get(prefix);
    if (namespace === undefined) return undefined; // an undeclared prefix
    // Nothing of XML-DSig inside the signed content: the one signature was the removed block.
    if (namespace === XMLDSIG_NS) return undefined;
    const attributes =
      plain.length === 0 ? declarations : declarations.length === 0 ? plain : [...declarations, ...plain];
    const element = new ElementNode(qname, prefix, local, namespace, attributes);
    if (open.length >= MAX_DEPTH) return undefined;
    if (open.length > 0) open[open.length - 1]!.append(element);
    else root = element;
    open.push(element);
    scopes.push(scope);
    i = j + 1;
  }
  return undefined; // unclosed elements
}
