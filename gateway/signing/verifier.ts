/**
 * Hardened verification of enveloped XML-DSig signatures over a whole document.
 *
 * The verifier accepts exactly one shape of signature and refuses everything else BEFORE any
 * cryptography runs. The cryptographic check uses a key taken from a certificate that was
 * validated first (chain to a trust anchor, validity, revocation, pin) — never from KeyInfo alone —
 * and runs on one of two engines:
 * - canonical bytes (verifyCanonicalBytes): when the received text already is the canonical form
 *   around the signature (every seal the gateway's DocumentSigner produces), digest and signature
 *   are checked on the raw bytes, with a proof of equivalence in that function's comment;
 * - xmldsigjs otherwise (pretty-printed or otherwise non-canonical senders' documents): reference
 *   digest after enveloped-signature + exc-c14n, then the SignatureValue over exc-c14n(SignedInfo).
 * The fast engine only ever ACCEPTS; whenever it cannot establish validity, xmldsigjs decides.
 *
 * Accepted shape (everything else is refused with GW_ERR_SIGNATURE_INVALID and a reason token):
 *   <root …>  … business data …
 *     <ds:Signature [Id]>                                     exactly one in the document, child of the root
 *       <ds:SignedInfo [Id]>                                  exactly one in the document
 *         <ds:CanonicalizationMethod Algorithm=exc-c14n/>     (no comments variant, no InclusiveNamespaces)
 *         <ds:SignatureMethod Algorithm=rsa-sha256|384|512|ecdsa-sha256|384/>
 *         <ds:Reference URI="" | "#<id of the root>" [Id]>     exactly one in the document
 *           <ds:Transforms> enveloped-signature, exc-c14n </ds:Transforms>   (in this order, nothing else)
 *           <ds:DigestMethod Algorithm=sha256|384|512/>
 *           <ds:DigestValue>base64</ds:DigestValue>             text only: no comments, CDATA, elements
 *       <ds:SignatureValue [Id]>base64</ds:SignatureValue>
 *       <ds:KeyInfo [Id]><ds:X509Data><ds:X509Certificate>base64 DER</…></…></ds:KeyInfo>
 *
 * Why so strict: XML signature wrapping attacks all rely on the verifier and the application
 * looking at different elements — a second Signature/SignedInfo/Reference the verifier checks while
 * the application reads another, a Reference URI resolving to a moved copy, an ID shadowed by a
 * duplicate, an ds:Object carrying the signed original. With one signature as a direct child of the
 * root covering the root itself, unique IDs and no Object/Manifest, "the signed element" and
 * "the document element" are the same node, and callers read only `root` (invariant 4).
 */
import {
  createHash,
  type KeyObject,
  verify as verifySignature,
  webcrypto,
  X509Certificate,
} from 'node:crypto';
import * as xmldsig from 'xmldsigjs';
import { GatewayError, isGatewayError } from '../errors/catalogue.ts';
import { parseXmlSafely } from '../xml/safe-parse.ts';
import { ENVELOPED_SIGNATURE, EXC_C14N, ensureXmldsigEngine, XMLDSIG_NS } from './signer.ts';

/** Stable reason tokens: the detail of every refusal starts with one of them, followed by ": ". */
export const SIGNATURE_REFUSALS = [
  'malformed-xml',
  'forbidden-construct',
  'xml-limit',
  'signature-missing',
  'multiple-signatures',
  'signature-placement',
  'signature-structure',
  'multiple-signed-info',
  'multiple-references',
  'reference-uri',
  'duplicate-id',
  'algorithm-not-allowed',
  'malformed-value',
  'key-info',
  'untrusted-certificate',
  'certificate-expired',
  'certificate-not-yet-valid',
  'certificate-revoked',
  'certificate-not-pinned',
  'digest-mismatch',
  'signature-mismatch',
] as const;
export type SignatureRefusal = (typeof SIGNATURE_REFUSALS)[number];

export interface VerifyOptions {
  /** CA certificates that may issue document-signing certificates. */
  trustAnchors: X509Certificate[];
  /**
   * When given, the signer certificate must be exactly this one, or one of these (e.g. the
   * directory's pin for a system; the gateway's current and previous sealing certificates).
   */
  pinned?: X509Certificate | readonly X509Certificate[];
  /** Revocation check by serial (lower-case hex, as `X509Certificate.serialNumber.toLowerCase()`). */
  isRevoked?: (serialHex: string) => boolean;
  now?: Date;
  /**
   * 'auto' (default): the byte-level fast path when it applies, else xmldsigjs. 'xmldsigjs': always
   * canonicalize with xmldsigjs (tests use it to check that both paths agree).
   */
  engine?: 'auto' | 'xmldsigjs';
}

export interface VerifiedDocument {
  document: Document;
  /** The element the signature covers: the document element. Read business data only from here. */
  root: Element;
  signer: { subject: string; serial: string; fingerprint256: string };
  /** Hex SHA-256 of the signed XML exactly as received (UTF-8). */
  digest: string;
  /** Which check established the digest and signature value (see verifyCanonicalBytes). */
  verifiedBy: 'canonical-bytes' | 'xmldsigjs';
}

const DIGEST_ALGORITHMS: Record<string, { bytes: number; webcrypto: string }> = {
  'http://www.w3.org/2001/04/xmlenc#sha256': { bytes: 32, webcrypto: 'SHA-256' },
  'http://www.w3.org/2001/04/xmldsig-more#sha384': { bytes: 48, webcrypto: 'SHA-384' },
  'http://www.w3.org/2001/04/xmlenc#sha512': { bytes: 64, webcrypto: 'SHA-512' },
};

const SIGNATURE_ALGORITHMS: Record<string, { key: 'rsa' | 'ec'; hash: string }> = {
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256': { key: 'rsa', hash: 'SHA-256' },
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha384': { key: 'rsa', hash: 'SHA-384' },
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512': { key: 'rsa', hash: 'SHA-512' },
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256': { key: 'ec', hash: 'SHA-256' },
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384': { key: 'ec', hash: 'SHA-384' },
};

const NODE_HASH: Record<string, string> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

const EC_CURVES: Record<string, { webcrypto: string; coordinateBytes: number }> = {
  prime256v1: { webcrypto: 'P-256', coordinateBytes: 32 },
  secp384r1: { webcrypto: 'P-384', coordinateBytes: 48 },
};

const MIN_RSA_BITS = 2048;
const ID_ATTRIBUTE_NAMES = new Set(['Id', 'ID', 'id']);
const ELEMENT_NODE = 1;
const TEXT_NODE = 3;

function refuse(reason: SignatureRefusal, detail: string, cause?: unknown): GatewayError {
  return new GatewayError('GW_ERR_SIGNATURE_INVALID', `${reason}: ${detail}`, { cause });
}

/** Reason token of a refusal thrown by verifyDocument, or undefined for any other error. */
export function refusalReason(error: unknown): SignatureRefusal | undefined {
  if (!isGatewayError(error) || error.code !== 'GW_ERR_SIGNATURE_INVALID') return undefined;
  const token = error.message.split(':', 1)[0] as SignatureRefusal;
  return SIGNATURE_REFUSALS.includes(token) ? token : undefined;
}

function isDsig(node: Node, localName: string): boolean {
  return (
    node.nodeType === ELEMENT_NODE &&
    (node as Element).namespaceURI === XMLDSIG_NS &&
    (node as Element).localName === localName
  );
}

function isWhitespace(text: string): boolean {
  return /^[ \t\r\n]*$/.test(text);
}

/**
 * The element children of a ds: element, which must be exactly `expected` (names, in order; a
 * trailing `?` marks an optional one). Only whitespace text may sit between them.
 */
function childrenOf(
  element: Element,
  expected: string[],
  reason: SignatureRefusal = 'signature-structure',
): Element[] {
  const children: Element[] = [];
  for (let child = element.firstChild; child; child = child.nextSibling) {
    if (child.nodeType === ELEMENT_NODE) {
      children.push(child as Element);
    } else if (child.nodeType === TEXT_NODE && isWhitespace((child as Text).data)) {
      // indentation is fine
    } else {
      throw refuse(reason, `unexpected ${child.nodeName} content in ds:${element.localName}`);
    }
  }
  const result: Element[] = [];
  let i = 0;
  for (const spec of expected) {
    const optional = spec.endsWith('?');
    const name = optional ? spec.slice(0, -1) : spec;
    const child = children[i];
    if (child && isDsig(child, name)) {
      result.push(child);
      i++;
    } else if (!optional) {
      throw refuse(reason, `ds:${element.localName} must contain ds:${name} at position ${i + 1}`);
    }
  }
  if (i < children.length) {
    throw refuse(reason, `unexpected element ${children[i]!.nodeName} in ds:${element.localName}`);
  }
  return result;
}

/** Only the named attributes (plus namespace declarations) may appear. */
function onlyAttributes(element: Element, allowed: string[]): void {
  for (let i = 0; i < element.attributes.length; i++) {
    const attribute = element.attributes.item(i)!;
    if (attribute.name === 'xmlns' || attribute.prefix === 'xmlns') continue;
    if (attribute.namespaceURI || !allowed.includes(attribute.localName)) {
      throw refuse(
        'signature-structure',
        `attribute ${attribute.name} is not allowed on ds:${element.localName}`,
      );
    }
  }
}

function algorithmOf(element: Element): string {
  onlyAttributes(element, ['Algorithm']);
  if (element.firstChild) {
    // HMACOutputLength, XPath expressions, XSLT stylesheets, InclusiveNamespaces: none is allowed.
    throw refuse(
      'algorithm-not-allowed',
      `ds:${element.localName} must be empty (parameters are not accepted)`,
    );
  }
  const algorithm = element.getAttribute('Algorithm');
  if (!algorithm) throw refuse('signature-structure', `ds:${element.localName} has no Algorithm`);
  return algorithm;
}

/**
 * The base64 text of a value element: text nodes only (a comment, CDATA section or child element
 * splits or hides part of the value, and implementations disagree about how to join it).
 */
function base64Value(element: Element, what: string, allowLineBreaks: boolean): Buffer {
  let text = '';
  for (let child = element.firstChild; child; child = child.nextSibling) {
    if (child.nodeType !== TEXT_NODE) {
      throw refuse('malformed-value', `${what} must be plain base64 text, found ${child.nodeName}`);
    }
    text += (child as Text).data;
  }
  const trimmed = text.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');
  const compact = allowLineBreaks ? trimmed.replace(/[ \t\r\n]+/g, '') : trimmed;
  if (compact.length === 0 || compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) {
    throw refuse('malformed-value', `${what} is not canonical base64`);
  }
  const bytes = Buffer.from(compact, 'base64');
  if (bytes.toString('base64') !== compact) {
    throw refuse('malformed-value', `${what} is not canonical base64`);
  }
  return bytes;
}

function certificateDates(certificate: X509Certificate): { from: Date; to: Date } {
  return { from: new Date(certificate.validFrom), to: new Date(certificate.validTo) };
}

interface Scan {
  signatures: Element[];
  signedInfos: number;
  references: number;
  objects: number;
}

/** One iterative walk: dsig element counts and ID uniqueness over the whole document. */
function scanDocument(root: Element): Scan {
  const scan: Scan = { signatures: [], signedInfos: 0, references: 0, objects: 0 };
  const ids = new Set<string>();
  const stack: Element[] = [root];
  while (stack.length > 0) {
    const element = stack.pop()!;
    if (element.namespaceURI === XMLDSIG_NS) {
      switch (element.localName) {
        case 'Signature':
          scan.signatures.push(element);
          break;
        case 'SignedInfo':
          scan.signedInfos++;
          break;
        case 'Reference':
          scan.references++;
          break;
        case 'Object':
        case 'Manifest':
          scan.objects++;
          break;
      }
    }
    const attributes = element.attributes;
    for (let i = 0; i < attributes.length; i++) {
      const attribute = attributes.item(i)!;
      // Id, ID, id in any namespace (xml:id, wsu:Id): every resolver's notion of an ID.
      if (ID_ATTRIBUTE_NAMES.has(attribute.localName)) {
        if (ids.has(attribute.value)) {
          throw refuse('duplicate-id', `the id "${attribute.value}" occurs more than once`);
        }
        ids.add(attribute.value);
      }
    }
    for (let child = element.lastChild; child; child = child.previousSibling) {
      if (child.nodeType === ELEMENT_NODE) stack.push(child as Element);
    }
  }
  return scan;
}

function parse(xml: string): Document {
  try {
    return parseXmlSafely(xml);
  } catch (error) {
    if (!isGatewayError(error)) throw error;
    const reason: SignatureRefusal =
      error.code === 'GW_ERR_XML_FORBIDDEN_CONSTRUCT'
        ? 'forbidden-construct'
        : error.code === 'GW_ERR_MALFORMED_PAYLOAD'
          ? 'malformed-xml'
          : 'xml-limit';
    throw refuse(reason, error.message, error);
  }
}

export interface CertificateEntry {
  certificate: X509Certificate;
  /** The trust anchor that issued it (signature verified), or null. */
  issuer: X509Certificate | null;
  publicKey: KeyObject;
  serial: string;
  from: Date;
  to: Date;
}

/**
 * Parsed certificates and their chain verification, keyed by the certificate's base64 text and
 * the trust anchors' fingerprints. Only deterministic facts are cached (which anchor's key verifies
 * the certificate's signature); validity, revocation and pinning are checked on every call.
 */
const certificateCache = new Map<string, CertificateEntry>();
const CERTIFICATE_CACHE_SIZE = 256;

export function certificateEntry(der: Buffer, anchors: X509Certificate[]): CertificateEntry {
  const cacheKey = `${der.toString('base64')}|${anchors.map((anchor) => anchor.fingerprint256).join(',')}`;
  const cached = certificateCache.get(cacheKey);
  if (cached) return cached;
  let entry: CertificateEntry;
  try {
    // OpenSSL parses some parts lazily (the public key, the signature): keep every access in here.
    const certificate = new X509Certificate(der);
    const publicKey = certificate.publicKey;
    const issuer =
      anchors.find((anchor) => certificate.checkIssued(anchor) && certificate.verify(anchor.publicKey)) ??
      null;
    entry = {
      certificate,
      issuer,
      publicKey,
      serial: certificate.serialNumber.toLowerCase(),
      ...certificateDates(certificate),
    };
  } catch (error) {
    throw refuse('key-info', `X509Certificate cannot be used: ${(error as Error).message}`, error);
  }
  if (certificateCache.size >= CERTIFICATE_CACHE_SIZE) {
    certificateCache.delete(certificateCache.keys().next().value!);
  }
  certificateCache.set(cacheKey, entry);
  return entry;
}

export function checkCertificate(entry: CertificateEntry, options: VerifyOptions, now: Date): void {
  const { certificate, issuer } = entry;
  if (!issuer) {
    throw refuse('untrusted-certificate', `"${certificate.subject}" is not issued by a trusted CA`);
  }
  if (certificate.ca) throw refuse('untrusted-certificate', 'a CA certificate may not sign documents');
  const issuerDates = certificateDates(issuer);
  if (now < issuerDates.from) {
    throw refuse('certificate-not-yet-valid', `the issuing CA is valid from ${issuer.validFrom}`);
  }
  if (now > issuerDates.to) throw refuse('certificate-expired', `the issuing CA expired ${issuer.validTo}`);
  if (now < entry.from) {
    throw refuse(
      'certificate-not-yet-valid',
      `the signer certificate is valid from ${certificate.validFrom}`,
    );
  }
  if (now > entry.to) {
    throw refuse('certificate-expired', `the signer certificate expired ${certificate.validTo}`);
  }
  if (options.isRevoked?.(entry.serial)) {
    throw refuse('certificate-revoked', `serial ${entry.serial} is revoked`);
  }
  if (options.pinned) {
    const pins = options.pinned instanceof X509Certificate ? [options.pinned] : options.pinned;
    if (!pins.some((pin) => certificate.raw.equals(pin.raw))) {
      throw refuse(
        'certificate-not-pinned',
        `the signer certificate is not among the pinned certificates ${pins.map((pin) => pin.fingerprint256).join(', ')}`,
      );
    }
  }
}

/** The key must fit the SignatureMethod: type, RSA size, EC curve, and the SignatureValue length. */
export function checkKeyFitsMethod(
  publicKey: KeyObject,
  method: { key: 'rsa' | 'ec' },
  signatureBytes: number,
): void {
  const type = publicKey.asymmetricKeyType;
  if (method.key === 'rsa') {
    if (type !== 'rsa') throw refuse('algorithm-not-allowed', `an RSA signature method with a ${type} key`);
    const bits = publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) {
      throw refuse('algorithm-not-allowed', `RSA keys below ${MIN_RSA_BITS} bits (${bits})`);
    }
    if (signatureBytes !== Math.ceil(bits / 8)) {
      throw refuse('malformed-value', 'SignatureValue has the wrong length');
    }
    return;
  }
  const curve = EC_CURVES[publicKey.asymmetricKeyDetails?.namedCurve ?? ''];
  if (type !== 'ec' || !curve) {
    throw refuse('algorithm-not-allowed', `an ECDSA signature method with a ${type} key`);
  }
  if (signatureBytes !== 2 * curve.coordinateBytes) {
    throw refuse('malformed-value', 'SignatureValue has the wrong length');
  }
}

/** The WebCrypto key for xmldsigjs, imported with exactly the parameters the SignatureMethod implies. */
async function webCryptoKey(
  publicKey: KeyObject,
  method: { key: 'rsa' | 'ec'; hash: string },
): Promise<CryptoKey> {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const algorithm =
    method.key === 'rsa'
      ? { name: 'RSASSA-PKCS1-v1_5', hash: method.hash }
      : { name: 'ECDSA', namedCurve: EC_CURVES[publicKey.asymmetricKeyDetails?.namedCurve ?? '']!.webcrypto };
  return (await webcrypto.subtle.importKey('spki', spki, algorithm, true, [
    'verify',
  ])) as unknown as CryptoKey;
}

function isXmlWhitespace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;
}

/**
 * FAST PATH: establishes digest and signature value from the received bytes, without
 * canonicalizing, when they already are what the signer canonicalized. Returns true only when
 * both checks succeed; false means "not established here" (never "invalid"): the caller then
 * runs the full xmldsigjs verification, which decides.
 *
 * Preconditions (checked by verifyDocument before): the DOM has exactly one xmldsig Signature, a
 * direct child of the root, whose whole subtree has the strict shape (only the expected ds:
 * elements, no comments/CDATA/foreign elements; the document has no PIs or DOCTYPE); the Reference
 * is URI="" or "#<root id>" with transforms enveloped-signature + exc-c14n.
 *
 * 1. The Signature's raw span X. If the Signature is the root's last child and the raw text ends
 *    with `</ds:Signature></root>` (+ whitespace), let X run from the last start tag named exactly
 *    ds:Signature ("<ds:Signature" followed by whitespace or ">") to that end tag, and require
 *    that no other end tag named exactly ds:Signature occurs in X.
 *    Then X is exactly the markup of the root's last child element, i.e. of the DOM Signature
 *    ('<' cannot occur inside attribute values, and the subtree holds no comments or CDATA).
 * 2. Reference digest. Let C = raw text from the root's start tag (after an optional BOM, XML
 *    declaration and whitespace, which canonical forms never contain) to the root's end tag, with X
 *    cut out. If hash(C) equals DigestValue then, by collision resistance, C is byte-for-byte the
 *    canonical text the signer digested. The DOM we return is parse(C) plus the Signature as the
 *    root's last child, so what the application reads is exactly what was signed, and a
 *    standard verifier computes exc-c14n(parse(raw) minus Signature) = exc-c14n(parse(C)) = C
 *    (canonical forms of whole documents are fixed points). Any other layout (pretty-printing,
 *    comments, non-canonical attribute order, a trailing newline inside the root) changes C and
 *    simply misses this path.
 * 3. SignedInfo. If SignedInfo and all its descendants use the Signature's prefix p, carry no
 *    attributes other than the unqualified Algorithm/URI/Id and no namespace declarations, and its
 *    raw start tag is exactly `<p:SignedInfo>`, its exclusive canonical form as the apex of its
 *    node-set is the raw span S with ` xmlns:p="…xmldsig#"` added to the start tag — provided S is
 *    canonical (no self-closing tags, canonical attribute quoting, no whitespace between elements).
 *    We do not check that: we verify the signature over S' = S + declaration with the already
 *    validated key. If it verifies, the key holder signed exactly S' (unforgeability), S' is a
 *    well-formed canonical SignedInfo whose only free prefix p is bound to the xmldsig namespace in
 *    our DOM too, so the SignedInfo we validated structurally is the one that was signed.
 */
function verifyCanonicalBytes(
  xml: string,
  root: Element,
  signature: Element,
  signedInfo: Element,
  digest: { algorithm: string; value: Buffer },
  signatureCheck: { hash: string; key: KeyObject; kind: 'rsa' | 'ec'; value: Buffer },
): boolean {
  // 1. The raw span of the Signature element.
  if (root.lastChild !== signature) return false;
  const signatureName = signature.nodeName;
  const rootEndTag = `</${root.nodeName}>`;
  const signatureEndTag = `</${signatureName}>`;
  let tail = xml.length;
  while (tail > 0 && isXmlWhitespace(xml.charCodeAt(tail - 1))) tail--;
  const rootEnd = tail - rootEndTag.length;
  if (rootEnd <= 0 || !xml.startsWith(rootEndTag, rootEnd)) return false;
  const end = rootEnd;
  const endTagStart = end - signatureEndTag.length;
  if (endTagStart <= 0 || !xml.startsWith(signatureEndTag, endTagStart)) return false;
  // The last start tag named exactly ds:Signature (not ds:SignatureValue / ds:SignatureMethod).
  let start = xml.lastIndexOf(`<${signatureName}`, endTagStart);
  while (start > 0) {
    const delimiter = xml.charCodeAt(start + 1 + signatureName.length);
    if (isXmlWhitespace(delimiter) || delimiter === 0x3e /* > */) break;
    start = xml.lastIndexOf(`<${signatureName}`, start - 1);
  }
  if (start <= 0) return false;
  // …and no end tag named exactly ds:Signature inside the span but the final one.
  let endTag = xml.indexOf(`</${signatureName}`, start);
  while (endTag !== -1 && endTag < endTagStart) {
    const delimiter = xml.charCodeAt(endTag + 2 + signatureName.length);
    if (isXmlWhitespace(delimiter) || delimiter === 0x3e /* > */) return false;
    endTag = xml.indexOf(`</${signatureName}`, endTag + 1);
  }
  if (endTag !== endTagStart) return false;

  // 2. The reference digest over the raw bytes around the Signature.
  let head = xml.charCodeAt(0) === 0xfeff ? 1 : 0;
  if (xml.startsWith('<?xml', head)) {
    const declarationEnd = xml.indexOf('?>', head);
    if (declarationEnd === -1) return false;
    head = declarationEnd + 2;
  }
  while (head < start && isXmlWhitespace(xml.charCodeAt(head))) head++;
  const hash = createHash(digest.algorithm);
  hash.update(xml.slice(head, start), 'utf8');
  hash.update(xml.slice(end, tail), 'utf8');
  if (!hash.digest().equals(digest.value)) return false;

  // 3. The signature value over SignedInfo's canonical form, derived from its raw span.
  const prefix = signedInfo.prefix;
  if (!prefix || signature.prefix !== prefix) return false;
  const stack: Element[] = [signedInfo];
  while (stack.length > 0) {
    const element = stack.pop()!;
    if (element.prefix !== prefix) return false;
    for (let i = 0; i < element.attributes.length; i++) {
      const attribute = element.attributes.item(i)!;
      if (attribute.namespaceURI || attribute.name === 'xmlns' || attribute.name.startsWith('xmlns:')) {
        return false;
      }
    }
    for (let child = element.firstChild; child; child = child.nextSibling) {
      if (child.nodeType === ELEMENT_NODE) stack.push(child as Element);
    }
  }
  if (signedInfo.attributes.length !== 0) return false;
  const signedInfoName = signedInfo.nodeName;
  const signatureSpan = xml.slice(start, end);
  const signedInfoStart = signatureSpan.indexOf(`<${signedInfoName}>`);
  if (signedInfoStart === -1) return false;
  const signedInfoEndTag = `</${signedInfoName}>`;
  const signedInfoEnd = signatureSpan.indexOf(signedInfoEndTag, signedInfoStart);
  if (signedInfoEnd === -1) return false;
  const canonicalSignedInfo =
    `<${signedInfoName} xmlns:${prefix}="${XMLDSIG_NS}">` +
    signatureSpan.slice(signedInfoStart + signedInfoName.length + 2, signedInfoEnd + signedInfoEndTag.length);
  return verifySignature(
    signatureCheck.hash,
    Buffer.from(canonicalSignedInfo, 'utf8'),
    signatureCheck.kind === 'ec'
      ? { key: signatureCheck.key, dsaEncoding: 'ieee-p1363' }
      : signatureCheck.key,
    signatureCheck.value,
  );
}

/**
 * Verifies an enveloped signature over the whole document. Resolves with the parsed document and
 * its root (the signed element) or throws GatewayError GW_ERR_SIGNATURE_INVALID whose detail starts
 * with one of SIGNATURE_REFUSALS.
 *
 * `parsed`: what parseXmlSafely(xml) (default limits) returned to a caller that already had to
 * parse `xml`, unmodified; it is used instead of parsing the same text a second time. A parse that
 * failed never gets here, so the refusals of a failed parse stay this function's own.
 */
export async function verifyDocument(
  xml: string,
  options: VerifyOptions,
  parsed?: Document,
): Promise<VerifiedDocument> {
  // A lone surrogate would be hashed as U+FFFD but kept as is in the DOM: refuse it outright.
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(xml)) {
    throw refuse('malformed-xml', 'the text contains an unpaired UTF-16 surrogate');
  }
  const digest = createHash('sha256').update(xml, 'utf8').digest('hex');
  const now = options.now ?? new Date();
  const document = parsed ?? parse(xml);
  const root = document.documentElement;

  // 1. Where the signature is, and how many of everything there are (whole document).
  const scan = scanDocument(root);
  if (scan.signatures.length === 0) throw refuse('signature-missing', 'the document carries no ds:Signature');
  if (scan.signatures.length > 1) {
    throw refuse('multiple-signatures', `${scan.signatures.length} ds:Signature elements`);
  }
  const signature = scan.signatures[0]!;
  if (signature === root || signature.parentNode !== root) {
    throw refuse('signature-placement', 'ds:Signature must be a direct child of the document element');
  }
  if (scan.signedInfos > 1) {
    throw refuse('multiple-signed-info', `${scan.signedInfos} ds:SignedInfo elements`);
  }
  if (scan.references > 1) throw refuse('multiple-references', `${scan.references} ds:Reference elements`);
  if (scan.objects > 0) throw refuse('signature-structure', 'ds:Object and ds:Manifest are not accepted');

  // 2. The exact shape of the signature.
  onlyAttributes(signature, ['Id']);
  const [signedInfo, signatureValueElement, keyInfo] = childrenOf(signature, [
    'SignedInfo',
    'SignatureValue',
    'KeyInfo',
  ]) as [Element, Element, Element];
  onlyAttributes(signedInfo, ['Id']);
  const [c14nMethod, signatureMethodElement, reference] = childrenOf(signedInfo, [
    'CanonicalizationMethod',
    'SignatureMethod',
    'Reference',
  ]) as [Element, Element, Element];

  const c14n = algorithmOf(c14nMethod);
  if (c14n !== EXC_C14N) throw refuse('algorithm-not-allowed', `canonicalization ${c14n}`);
  const signatureMethodUri = algorithmOf(signatureMethodElement);
  const signatureMethod = SIGNATURE_ALGORITHMS[signatureMethodUri];
  if (!signatureMethod) throw refuse('algorithm-not-allowed', `signature method ${signatureMethodUri}`);

  onlyAttributes(reference, ['URI', 'Id']);
  const uri = reference.getAttribute('URI');
  const rootId = ['Id', 'ID', 'id'].map((name) => root.getAttribute(name)).find((value) => value);
  if (uri === null || !(uri === '' || (rootId !== undefined && uri === `#${rootId}`))) {
    throw refuse(
      'reference-uri',
      `Reference URI must be "" or "#<id of the document element>", got ${JSON.stringify(uri)}`,
    );
  }
  const [transforms, digestMethodElement, digestValueElement] = childrenOf(reference, [
    'Transforms',
    'DigestMethod',
    'DigestValue',
  ]) as [Element, Element, Element];
  onlyAttributes(transforms, []);
  const transformAlgorithms = childrenOf(transforms, ['Transform', 'Transform'], 'algorithm-not-allowed').map(
    (transform) => algorithmOf(transform),
  );
  if (transformAlgorithms[0] !== ENVELOPED_SIGNATURE || transformAlgorithms[1] !== EXC_C14N) {
    throw refuse(
      'algorithm-not-allowed',
      `transforms must be enveloped-signature, exc-c14n; got ${transformAlgorithms.join(', ')}`,
    );
  }
  const digestMethodUri = algorithmOf(digestMethodElement);
  const digestMethod = DIGEST_ALGORITHMS[digestMethodUri];
  if (!digestMethod) throw refuse('algorithm-not-allowed', `digest method ${digestMethodUri}`);
  onlyAttributes(digestValueElement, []);
  const digestValue = base64Value(digestValueElement, 'DigestValue', false);
  if (digestValue.length !== digestMethod.bytes) {
    throw refuse('malformed-value', 'DigestValue has the wrong length');
  }
  onlyAttributes(signatureValueElement, ['Id']);
  const signatureValue = base64Value(signatureValueElement, 'SignatureValue', true);

  // 3. The signer certificate: taken from KeyInfo, but trusted only if it chains to an anchor.
  onlyAttributes(keyInfo, ['Id']);
  const [x509Data] = childrenOf(keyInfo, ['X509Data'], 'key-info') as [Element];
  onlyAttributes(x509Data, []);
  const [x509CertificateElement] = childrenOf(x509Data, ['X509Certificate'], 'key-info') as [Element];
  onlyAttributes(x509CertificateElement, []);
  let certificateDer: Buffer;
  try {
    certificateDer = base64Value(x509CertificateElement, 'X509Certificate', true);
  } catch (error) {
    throw refuse('key-info', (error as Error).message.replace(/^malformed-value: /, ''), error);
  }
  const entry = certificateEntry(certificateDer, options.trustAnchors);
  checkCertificate(entry, options, now);
  checkKeyFitsMethod(entry.publicKey, signatureMethod, signatureValue.length);
  const signer = {
    subject: entry.certificate.subject,
    serial: entry.serial,
    fingerprint256: entry.certificate.fingerprint256,
  };

  // 4. Cryptography, fast: the received bytes already are the canonical forms (our own seals).
  if (
    (options.engine ?? 'auto') === 'auto' &&
    verifyCanonicalBytes(
      xml,
      root,
      signature,
      signedInfo,
      { algorithm: NODE_HASH[digestMethod.webcrypto]!, value: digestValue },
      {
        hash: NODE_HASH[signatureMethod.hash]!,
        key: entry.publicKey,
        kind: signatureMethod.key,
        value: signatureValue,
      },
    )
  ) {
    return { document, root, signer, digest, verifiedBy: 'canonical-bytes' };
  }

  // 5. Cryptography, general: reference digest (enveloped + exc-c14n of the root), then the
  //    signature value over exc-c14n(SignedInfo), with the validated key only.
  ensureXmldsigEngine();
  const signedXml = new xmldsig.SignedXml(document);
  try {
    signedXml.LoadXml(signature);
  } catch (error) {
    throw refuse('signature-structure', `ds:Signature cannot be loaded: ${(error as Error).message}`, error);
  }
  // Never let xmldsigjs re-import or pick keys itself (it would also accept KeyValue/KeyInfo keys).
  signedXml.Algorithm = undefined;
  let key: CryptoKey;
  try {
    key = await webCryptoKey(entry.publicKey, signatureMethod);
  } catch (error) {
    throw refuse('key-info', `the certificate's key cannot be imported: ${(error as Error).message}`, error);
  }
  let valid: boolean;
  try {
    valid = await signedXml.Verify(key);
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    if (/invalid digest/i.test(message)) {
      throw refuse('digest-mismatch', 'the signed content was altered', error);
    }
    throw refuse('signature-structure', `verification failed: ${message}`, error);
  }
  if (!valid) {
    throw refuse('signature-mismatch', 'the signature value does not match SignedInfo and the certificate');
  }

  return { document, root, signer, digest, verifiedBy: 'xmldsigjs' };
}
