/**
 * XML-DSig sealing of routed documents: an enveloped signature over the whole document
 * (Reference URI=""), exclusive C14N for the reference and for SignedInfo, SHA-256 digest,
 * RSA-SHA256 or ECDSA-P256-SHA256, the signer certificate in KeyInfo/X509Data.
 *
 * FAST PATH (DocumentSigner.signCanonical). Its input is, by contract, already the exclusive
 * canonical form (without comments) of the unsigned document — the gateway's serializer emits
 * exactly that. The signature is then computed without a DOM:
 *
 * 1. Reference digest. For Reference URI="" the input to the transforms is the whole document
 *    without comments. The enveloped-signature transform removes the ds:Signature element we
 *    insert; exc-c14n of what remains is the input string itself, because (a) the input is
 *    canonical, (b) we insert the Signature as the last child of the root element, directly
 *    before the root's end tag, adding no text or whitespace anywhere, and (c) a canonical
 *    document has no XML declaration, DOCTYPE, comments or PIs outside the root. So
 *    DigestValue = base64(sha256(utf8(input))).
 *
 * 2. SignedInfo. The signature is computed over the exclusive canonical form of SignedInfo as
 *    the apex of its own node-set (XML-DSig 3.4.2 / exc-c14n 3). Exclusive C14N renders a namespace
 *    node on an element iff it is visibly utilized by that element (its prefix is the element's
 *    or one of its attributes') and not already rendered by an output ancestor. SignedInfo is the
 *    apex: it has no output ancestor, and its own name uses `ds:`, so it MUST carry
 *    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" in the canonical form, although in the
 *    document the declaration sits on the enclosing ds:Signature. Its descendants use `ds:` too,
 *    but the declaration is already rendered by the output ancestor SignedInfo, so they carry
 *    none. The root document's other namespaces (including a default namespace) are never
 *    rendered: no ds: element uses them, and none of our elements is unprefixed. Attributes are
 *    only unqualified `Algorithm` / `URI` (one per element, so ordering is trivial), empty
 *    elements are written as start+end tag pairs, and there is no whitespace between elements.
 *    Attribute values are fixed algorithm URIs and URI="" — nothing needs escaping; the
 *    DigestValue is base64 (no escaping either).
 *    The canonical bytes are therefore the fixed string
 *      <ds:SignedInfo xmlns:ds="…xmldsig#"><ds:CanonicalizationMethod Algorithm="…exc-c14n#">
 *      </ds:CanonicalizationMethod>…<ds:DigestValue>DIGEST</ds:DigestValue></ds:Reference></ds:SignedInfo>
 *    (without the line breaks) with DIGEST substituted, and the in-document SignedInfo is the
 *    same string without the xmlns:ds attribute (it is inherited from ds:Signature).
 *
 * 3. SignatureValue = base64(sign(SHA-256, canonical SignedInfo)); for ECDSA the XML-DSig
 *    encoding is the raw r||s concatenation (RFC 4050 / XML-DSig 1.1 §6.4.3), i.e. IEEE P1363.
 *
 * Correctness of this path is proved by tests: xmldsigjs and Debian's xmlsec1 verify its output,
 * including on property-based random documents.
 *
 * signWithXmldsigjs() in signer.ts is the slow reference implementation (DOM, canonicalizer) that
 * produces the same structure; tests and the bench baseline use it. This file imports no XML
 * library on purpose: signer threads (signer-pool.ts) load it, and start in a fraction of the time.
 */
import { createHash, type KeyObject, sign, verify, X509Certificate } from 'node:crypto';
import { GatewayError } from '../errors/catalogue.ts';

export type SigningAlgorithm = 'rsa-sha256' | 'ecdsa-p256-sha256';

export interface SigningKey {
  privateKey: KeyObject;
  certPem: string;
  algorithm: SigningAlgorithm;
}

export const XMLDSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
export const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
export const ENVELOPED_SIGNATURE = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
export const DIGEST_SHA256 = 'http://www.w3.org/2001/04/xmlenc#sha256';
export const SIGNATURE_RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
export const SIGNATURE_ECDSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256';

function signatureMethodUri(algorithm: SigningAlgorithm): string {
  return algorithm === 'rsa-sha256' ? SIGNATURE_RSA_SHA256 : SIGNATURE_ECDSA_SHA256;
}

/**
 * The canonical SignedInfo content this signer writes, up to the digest value: the one template the
 * signer and the own-seal verifier (own-seal.ts, which accepts exactly this shape) share.
 */
export function signedInfoBodyHead(signatureMethod: string): string {
  return (
    `<ds:CanonicalizationMethod Algorithm="${EXC_C14N}"></ds:CanonicalizationMethod>` +
    `<ds:SignatureMethod Algorithm="${signatureMethod}"></ds:SignatureMethod>` +
    '<ds:Reference URI="">' +
    '<ds:Transforms>' +
    `<ds:Transform Algorithm="${ENVELOPED_SIGNATURE}"></ds:Transform>` +
    `<ds:Transform Algorithm="${EXC_C14N}"></ds:Transform>` +
    '</ds:Transforms>' +
    `<ds:DigestMethod Algorithm="${DIGEST_SHA256}"></ds:DigestMethod>` +
    '<ds:DigestValue>'
  );
}

export function certificateBase64(certPem: string): string {
  return new X509Certificate(certPem).raw.toString('base64');
}

/** Throws unless the private key matches the algorithm and the certificate's public key. */
function checkSigningKey(key: SigningKey): void {
  const type = key.privateKey.asymmetricKeyType;
  if (key.algorithm === 'rsa-sha256' && type !== 'rsa') {
    throw new GatewayError(
      'GW_ERR_CONFIG_INVALID',
      `signing algorithm rsa-sha256 needs an RSA key, got ${type}`,
    );
  }
  if (key.algorithm === 'ecdsa-p256-sha256') {
    const curve = key.privateKey.asymmetricKeyDetails?.namedCurve;
    if (type !== 'ec' || curve !== 'prime256v1') {
      throw new GatewayError(
        'GW_ERR_CONFIG_INVALID',
        `signing algorithm ecdsa-p256-sha256 needs a P-256 key, got ${type} ${curve ?? ''}`.trim(),
      );
    }
  }
  const probe = Buffer.from('laender-gateway signing key probe');
  const signature = sign('sha256', probe, key.privateKey);
  if (!verify('sha256', probe, new X509Certificate(key.certPem).publicKey, signature)) {
    throw new GatewayError('GW_ERR_CONFIG_INVALID', 'the signing certificate does not match the signing key');
  }
}

export class DocumentSigner {
  readonly algorithm: SigningAlgorithm;
  readonly certPem: string;
  private readonly privateKey: KeyObject;
  private readonly signOptions: KeyObject | { key: KeyObject; dsaEncoding: 'ieee-p1363' };
  /** Canonical SignedInfo, split around the DigestValue text. */
  private readonly signedInfoCanonicalHead: string;
  /** The same SignedInfo as written inside ds:Signature (xmlns:ds inherited from ds:Signature). */
  private readonly signedInfoPlacedHead: string;
  private readonly signedInfoTail: string;
  private readonly signatureOpen: string;
  private readonly signatureClose: string;

  constructor(key: SigningKey) {
    checkSigningKey(key);
    this.algorithm = key.algorithm;
    this.certPem = key.certPem;
    this.privateKey = key.privateKey;
    this.signOptions =
      key.algorithm === 'ecdsa-p256-sha256'
        ? { key: key.privateKey, dsaEncoding: 'ieee-p1363' }
        : key.privateKey;

    const body = signedInfoBodyHead(signatureMethodUri(key.algorithm));
    this.signedInfoCanonicalHead = `<ds:SignedInfo xmlns:ds="${XMLDSIG_NS}">${body}`;
    this.signedInfoPlacedHead = `<ds:SignedInfo>${body}`;
    this.signedInfoTail = '</ds:DigestValue></ds:Reference></ds:SignedInfo>';
    this.signatureOpen = `<ds:Signature xmlns:ds="${XMLDSIG_NS}">`;
    this.signatureClose =
      '</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>' +
      certificateBase64(key.certPem) +
      '</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>';
  }

  /**
   * Signs a document given in exclusive canonical form (no XML declaration, one root element,
   * no comments) and returns it with ds:Signature as the last child of the root element.
   */
  signCanonical(xml: string): string {
    // The root's end tag is the last "</" of a canonical document: canonical text has no "<"
    // (escaped as &lt;), no comments and no CDATA; empty elements are written as start+end tags.
    const rootEnd = xml.lastIndexOf('</');
    if (rootEnd <= 0 || xml.charCodeAt(0) !== 0x3c || xml.charCodeAt(1) === 0x3f || !xml.endsWith('>')) {
      throw new GatewayError('GW_ERR_INTERNAL', 'signCanonical: the input is not a canonical XML document');
    }
    const digest = createHash('sha256').update(xml, 'utf8').digest('base64');
    const signedInfo = this.signedInfoCanonicalHead + digest + this.signedInfoTail;
    const signatureValue = sign('sha256', Buffer.from(signedInfo, 'utf8'), this.signOptions).toString(
      'base64',
    );
    return (
      xml.slice(0, rootEnd) +
      this.signatureOpen +
      this.signedInfoPlacedHead +
      digest +
      this.signedInfoTail +
      '<ds:SignatureValue>' +
      signatureValue +
      this.signatureClose +
      xml.slice(rootEnd)
    );
  }

  /** The private key (for worker threads that build their own signer). */
  get key(): SigningKey {
    return { privateKey: this.privateKey, certPem: this.certPem, algorithm: this.algorithm };
  }
}
