import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { DOMParser } from '@xmldom/xmldom';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import * as xmldsig from 'xmldsigjs';
import { GatewayError, isGatewayError } from '../errors/catalogue.ts';
import { type CertificateAuthority, createCa, issueCertificate } from '../pki/ca.ts';
import {
  DocumentSigner,
  ensureXmldsigEngine,
  type SigningKey,
  signWithXmldsigjs,
  toWebCryptoSigningKey,
  XMLDSIG_NS,
} from './signer.ts';
import { refusalReason, SIGNATURE_REFUSALS, type SignatureRefusal, verifyDocument } from './verifier.ts';

// --- fixtures --------------------------------------------------------------------------------------

const DAY = 86_400_000;

/** A canonical (exc-c14n) XÖV-style document with an Id on the root. */
const DOCUMENT =
  '<x:Nachricht xmlns:x="urn:xoev-de:test" Id="msg-1" version="25.11">' +
  '<x:Kopf><x:UUID>0f8fad5b-d9cb-469f-a165-70867728950e</x:UUID><x:Autor>ags:14612000</x:Autor></x:Kopf>' +
  '<x:Person><x:Name>Müller &amp; Söhne &lt;GmbH&gt; "Straße"</x:Name><x:Betrag waehrung="EUR">100</x:Betrag></x:Person>' +
  '</x:Nachricht>';

let ca: CertificateAuthority;
let anchor: X509Certificate;
let rsaKey: SigningKey;
let ecKey: SigningKey;
let rsaSigner: DocumentSigner;
let ecSigner: DocumentSigner;

function signingKey(
  issued: { certPem: string; keyPem: string },
  algorithm: SigningKey['algorithm'],
): SigningKey {
  return { privateKey: createPrivateKey(issued.keyPem), certPem: issued.certPem, algorithm };
}

function issueSigning(
  authority: { certPem: string; keyPem: string },
  algorithm: SigningKey['algorithm'],
  extra: { days?: number; notBefore?: Date } = {},
): SigningKey {
  const issued = issueCertificate(authority, {
    commonName: `signer ${algorithm}`,
    usage: 'signing',
    days: extra.days ?? 30,
    keyAlgorithm: algorithm === 'rsa-sha256' ? 'rsa-2048' : 'ec-p256',
    ...(extra.notBefore ? { notBefore: extra.notBefore } : {}),
  });
  return signingKey(issued, algorithm);
}

beforeAll(() => {
  ensureXmldsigEngine();
  ca = createCa({ commonName: 'Signing Test CA', days: 365, keyAlgorithm: 'rsa-2048' });
  anchor = new X509Certificate(ca.certPem);
  rsaKey = issueSigning(ca, 'rsa-sha256');
  ecKey = issueSigning(ca, 'ecdsa-p256-sha256');
  rsaSigner = new DocumentSigner(rsaKey);
  ecSigner = new DocumentSigner(ecKey);
});

function parse(xml: string): Document {
  return new DOMParser().parseFromString(xml, 'text/xml') as unknown as Document;
}

/** Verification with plain xmldsigjs, taking the key from KeyInfo (what an outside party would do). */
async function xmldsigjsVerifies(xml: string): Promise<boolean> {
  const document = parse(xml);
  const signature = document.getElementsByTagNameNS(XMLDSIG_NS, 'Signature')[0];
  if (!signature) return false;
  const signedXml = new xmldsig.SignedXml(document);
  signedXml.LoadXml(signature);
  return signedXml.Verify();
}

async function expectRefusal(promise: Promise<unknown>, reason: SignatureRefusal): Promise<GatewayError> {
  const error = await promise.then(
    () => {
      throw new Error(`expected a refusal with ${reason}, but the document verified`);
    },
    (e: unknown) => e,
  );
  expect(isGatewayError(error), String(error)).toBe(true);
  expect((error as GatewayError).code).toBe('GW_ERR_SIGNATURE_INVALID');
  expect(refusalReason(error), (error as Error).message).toBe(reason);
  return error as GatewayError;
}

function signatureOf(signed: string): string {
  const start = signed.indexOf('<ds:Signature');
  const end = signed.indexOf('</ds:Signature>') + '</ds:Signature>'.length;
  return signed.slice(start, end);
}

function withoutSignature(signed: string): string {
  return signed.replace(signatureOf(signed), '');
}

/** xmldsigjs signature referencing the root by its Id (URI="#msg-1"), for the wrapping corpus. */
async function signById(xml: string, key: SigningKey): Promise<string> {
  const document = parse(xml);
  const signedXml = new xmldsig.SignedXml();
  signedXml.XmlSignature.Prefix = 'ds';
  signedXml.XmlSignature.SignedInfo.CanonicalizationMethod.Algorithm =
    'http://www.w3.org/2001/10/xml-exc-c14n#';
  await signedXml.Sign({ name: 'RSASSA-PKCS1-v1_5' }, await toWebCryptoSigningKey(key), document, {
    references: [{ uri: '#msg-1', hash: 'SHA-256', transforms: ['enveloped', 'exc-c14n'] }],
    x509: [new X509Certificate(key.certPem).raw.toString('base64')],
  });
  document.documentElement.appendChild(document.importNode(signedXml.GetXml()!, true));
  return document.documentElement.toString();
}

// --- canonical random documents -------------------------------------------------------------------

type Namespace = 'none' | 'default' | 'p' | 'q';
interface Attr {
  name: string;
  ns: 'none' | 'p' | 'q';
  value: string;
}
interface Elem {
  name: string;
  ns: Namespace;
  attrs: Attr[];
  children: (Elem | string)[];
}

const URIS = { default: 'urn:x-default', p: 'urn:x-p', q: 'urn:x-q' } as const;
const CHARS = [
  'a',
  'Z',
  '7',
  ' ',
  '&',
  '<',
  '>',
  '"',
  "'",
  'ä',
  'ö',
  'ü',
  'ß',
  'Ä',
  '€',
  '😀',
  '\n',
  '\t',
  '\r',
  ']',
  '=',
  '/',
];

function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#xD;');
}

function escapeAttribute(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/"/g, '&quot;')
    .replace(/\t/g, '&#x9;')
    .replace(/\n/g, '&#xA;')
    .replace(/\r/g, '&#xD;');
}

/**
 * Exclusive XML canonicalization (without comments) of the generated model: namespace declarations
 * only where visibly utilized and not yet rendered by an output ancestor (xmlns="" when an
 * unprefixed element leaves a rendered default namespace), namespace declarations first (default,
 * then by prefix), attributes by (namespace URI, local name), C14N escaping, no empty-element tags.
 */
function canonicalize(element: Elem, rendered: ReadonlyMap<string, string> = new Map()): string {
  const scope = new Map(rendered);
  const declarations: [string, string][] = [];
  const prefix = element.ns === 'p' || element.ns === 'q' ? element.ns : '';
  if (prefix === '') {
    const uri = element.ns === 'default' ? URIS.default : '';
    if ((scope.get('') ?? '') !== uri) declarations.push(['', uri]);
  }
  const used = new Set<'p' | 'q'>();
  if (prefix) used.add(prefix as 'p' | 'q');
  for (const attr of element.attrs) if (attr.ns !== 'none') used.add(attr.ns);
  for (const p of [...used].sort()) if (scope.get(p) !== URIS[p]) declarations.push([p, URIS[p]]);
  for (const [p, uri] of declarations) scope.set(p, uri);

  const qname = prefix ? `${prefix}:${element.name}` : element.name;
  const nsText = declarations.map(([p, uri]) => (p ? ` xmlns:${p}="${uri}"` : ` xmlns="${uri}"`)).join('');
  const attrs = [...element.attrs].sort((a, b) => {
    const ua = a.ns === 'none' ? '' : URIS[a.ns];
    const ub = b.ns === 'none' ? '' : URIS[b.ns];
    return ua === ub ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : ua < ub ? -1 : 1;
  });
  const attrText = attrs
    .map((a) => ` ${a.ns === 'none' ? '' : `${a.ns}:`}${a.name}="${escapeAttribute(a.value)}"`)
    .join('');
  const content = element.children
    .map((child) => (typeof child === 'string' ? escapeText(child) : canonicalize(child, scope)))
    .join('');
  return `<${qname}${nsText}${attrText}>${content}</${qname}>`;
}

const textArb = fc.array(fc.constantFrom(...CHARS), { maxLength: 12 }).map((chars) => chars.join(''));
const attrArb: fc.Arbitrary<Attr> = fc.record({
  name: fc.constantFrom('typ', 'wert', 'a', 'z', 'schluessel'),
  ns: fc.constantFrom('none' as const, 'p' as const, 'q' as const),
  value: textArb,
});
const { element: elementArb } = fc.letrec<{ element: Elem; node: Elem | string }>((tie) => ({
  element: fc.record({
    name: fc.constantFrom('Nachricht', 'kopf', 'person', 'b', 'x1'),
    ns: fc.constantFrom<Namespace>('none', 'default', 'p', 'q'),
    attrs: fc.uniqueArray(attrArb, { selector: (a) => `${a.ns}|${a.name}`, maxLength: 4 }),
    children: fc.array(tie('node'), { maxLength: 4 }),
  }),
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, textArb, tie('element')),
}));

// --- tests -----------------------------------------------------------------------------------------

describe('DocumentSigner.signCanonical', () => {
  it.each(['rsa', 'ec'] as const)(
    '%s: verifies with verifyDocument and with plain xmldsigjs',
    async (kind) => {
      const signer = kind === 'rsa' ? rsaSigner : ecSigner;
      const signed = signer.signCanonical(DOCUMENT);
      expect(signed.startsWith(DOCUMENT.slice(0, DOCUMENT.lastIndexOf('</')))).toBe(true);
      expect(signed.endsWith('</ds:Signature></x:Nachricht>')).toBe(true);
      expect(await xmldsigjsVerifies(signed)).toBe(true);

      const verified = await verifyDocument(signed, { trustAnchors: [anchor] });
      expect(verified.root).toBe(verified.document.documentElement);
      expect(verified.root.getElementsByTagNameNS('urn:xoev-de:test', 'Name')[0]?.textContent).toBe(
        'Müller & Söhne <GmbH> "Straße"',
      );
      expect(verified.digest).toBe(createHash('sha256').update(signed, 'utf8').digest('hex'));
      const cert = new X509Certificate(signer.certPem);
      expect(verified.signer).toEqual({
        subject: cert.subject,
        serial: cert.serialNumber.toLowerCase(),
        fingerprint256: cert.fingerprint256,
      });
    },
  );

  it('builds exactly the SignedInfo xmldsigjs builds (RSA PKCS#1 v1.5 is deterministic)', async () => {
    const fast = rsaSigner.signCanonical(DOCUMENT);
    const reference = await signWithXmldsigjs(DOCUMENT, rsaKey);
    const value = (xml: string, name: string) =>
      new RegExp(`<ds:${name}>([^<]*)</ds:${name}>`).exec(xml)?.[1];
    expect(value(fast, 'DigestValue')).toBe(value(reference, 'DigestValue'));
    expect(value(fast, 'SignatureValue')).toBe(value(reference, 'SignatureValue'));
    // Same canonical document: only the empty-element syntax in ds:Signature differs.
    const normalize = (xml: string) => xml.replace(/<(ds:\w+)( [^>]*)?\/>/g, '<$1$2></$1>');
    expect(normalize(reference)).toBe(fast);
  });

  it('ECDSA: same digest as xmldsigjs and a raw r||s signature value of 64 bytes', async () => {
    const fast = ecSigner.signCanonical(DOCUMENT);
    const reference = await signWithXmldsigjs(DOCUMENT, ecKey);
    const value = (xml: string, name: string) =>
      new RegExp(`<ds:${name}>([^<]*)</ds:${name}>`).exec(xml)?.[1];
    expect(value(fast, 'DigestValue')).toBe(value(reference, 'DigestValue'));
    expect(Buffer.from(value(fast, 'SignatureValue')!, 'base64')).toHaveLength(64);
    await verifyDocument(reference, { trustAnchors: [anchor] });
  });

  it('signWithXmldsigjs output verifies with verifyDocument (RSA and ECDSA)', async () => {
    for (const key of [rsaKey, ecKey]) {
      const signed = await signWithXmldsigjs(DOCUMENT, key);
      await expect(verifyDocument(signed, { trustAnchors: [anchor] })).resolves.toBeDefined();
    }
  });

  it('refuses input that cannot be a canonical document, and mismatched keys', () => {
    expect(() => rsaSigner.signCanonical(`<?xml version="1.0"?>${DOCUMENT}`)).toThrow(GatewayError);
    expect(() => rsaSigner.signCanonical('<a/>')).toThrow(GatewayError);
    expect(() => rsaSigner.signCanonical('text')).toThrow(GatewayError);
    expect(() => new DocumentSigner({ ...rsaKey, algorithm: 'ecdsa-p256-sha256' })).toThrow(/P-256/);
    expect(() => new DocumentSigner({ ...rsaKey, certPem: ecKey.certPem })).toThrow(/does not match/);
  });

  it('property: random canonical documents signed with signCanonical verify in xmldsigjs and verifyDocument', async () => {
    await fc.assert(
      fc.asyncProperty(elementArb, fc.boolean(), async (tree, useRsa) => {
        const canonical = canonicalize(tree);
        // The helper really produces exc-c14n output (checked against xmldsigjs' canonicalizer).
        const transform = new xmldsig.XmlDsigExcC14NTransform();
        transform.LoadInnerXml(parse(canonical).documentElement);
        expect(transform.GetOutput()).toBe(canonical);

        const signed = (useRsa ? rsaSigner : ecSigner).signCanonical(canonical);
        expect(await xmldsigjsVerifies(signed)).toBe(true);
        const verified = await verifyDocument(signed, { trustAnchors: [anchor] });
        expect(verified.root.localName).toBe(tree.name);
        expect(verified.verifiedBy).toBe('canonical-bytes');
        const slow = await verifyDocument(signed, { trustAnchors: [anchor], engine: 'xmldsigjs' });
        expect(slow.verifiedBy).toBe('xmldsigjs');
      }),
      { numRuns: 150 },
    );
  });
});

describe('verifyDocument: canonical-bytes fast path', () => {
  it("verifies the gateway's own seals from the received bytes, and others with xmldsigjs", async () => {
    const trust = { trustAnchors: [anchor] };
    for (const signer of [rsaSigner, ecSigner]) {
      const signed = signer.signCanonical(DOCUMENT);
      expect((await verifyDocument(signed, trust)).verifiedBy).toBe('canonical-bytes');
      // transport framing outside the root does not matter
      expect(
        (await verifyDocument(`<?xml version="1.0" encoding="UTF-8"?>\n${signed}\n`, trust)).verifiedBy,
      ).toBe('canonical-bytes');
      // a comment outside the root is not signed (URI="" excludes comments): valid, via xmldsigjs
      expect((await verifyDocument(`${signed}<!-- transport -->`, trust)).verifiedBy).toBe('xmldsigjs');
      expect((await verifyDocument(signed, { ...trust, engine: 'xmldsigjs' })).verifiedBy).toBe('xmldsigjs');
    }
    // xmldom writes <ds:CanonicalizationMethod .../>: SignedInfo is not canonical as sent
    expect((await verifyDocument(await signWithXmldsigjs(DOCUMENT, rsaKey), trust)).verifiedBy).toBe(
      'xmldsigjs',
    );
  });

  it('accepts a root that binds "ds" to another namespace (xmlsec1 agrees; xmldsigjs alone does not)', async () => {
    const signed = rsaSigner.signCanonical(
      '<ds:Antrag xmlns:ds="urn:example:ds"><ds:Feld>1</ds:Feld></ds:Antrag>',
    );
    const verified = await verifyDocument(signed, { trustAnchors: [anchor] });
    expect(verified.verifiedBy).toBe('canonical-bytes');
    expect(verified.root.namespaceURI).toBe('urn:example:ds');
  });

  it('property: both engines reach the same verdict on mutated seals (the fast path never accepts more)', async () => {
    const base = [rsaSigner.signCanonical(DOCUMENT), ecSigner.signCanonical(DOCUMENT)];
    const snippets = [
      ' ',
      '\n',
      '\r\n',
      'x',
      '<!---->',
      '<x:y></x:y>',
      '&amp;',
      '<![CDATA[x]]>',
      '"',
      "'",
      '=',
      '>',
      '</ds:Signature>',
      '<ds:Signature>',
      'ds:',
    ];
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom(...snippets) }),
      fc.record({
        kind: fc.constant('delete' as const),
        at: fc.nat(),
        length: fc.integer({ min: 1, max: 3 }),
      }),
      fc.record({
        kind: fc.constant('replace' as const),
        at: fc.nat(),
        text: fc.constantFrom('a', 'A', '0', '+', ' ', '<', ':'),
      }),
    );
    const verdict = async (xml: string, engine: 'auto' | 'xmldsigjs') =>
      verifyDocument(xml, { trustAnchors: [anchor], engine }).then(
        () => 'valid',
        (e: unknown) => refusalReason(e) ?? `other: ${String(e)}`,
      );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(0, 1),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        async (which, mutations) => {
          let xml = base[which]!;
          for (const m of mutations) {
            const at = m.at % (xml.length + 1);
            if (m.kind === 'insert') xml = xml.slice(0, at) + m.text + xml.slice(at);
            else if (m.kind === 'delete') xml = xml.slice(0, at) + xml.slice(at + m.length);
            else xml = xml.slice(0, at) + m.text + xml.slice(at + 1);
          }
          const fast = await verdict(xml, 'auto');
          expect(fast).not.toMatch(/^other/); // every failure is a GatewayError with a reason token
          expect(fast).toBe(await verdict(xml, 'xmldsigjs'));
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe.each(['auto', 'xmldsigjs'] as const)('verifyDocument: attack corpus (engine %s)', (engine) => {
  let signed: string;
  let signedById: string;
  const trust = () => ({ trustAnchors: [anchor], engine });

  beforeAll(async () => {
    signed = rsaSigner.signCanonical(DOCUMENT);
    signedById = await signById(DOCUMENT, rsaKey);
    await verifyDocument(signedById, trust()); // the corpus starts from valid documents
  });

  it('exports the reason tokens', () => {
    expect(SIGNATURE_REFUSALS).toContain('digest-mismatch');
    expect(new Set(SIGNATURE_REFUSALS).size).toBe(SIGNATURE_REFUSALS.length);
  });

  it('tampered text or attribute: digest-mismatch', async () => {
    await expectRefusal(verifyDocument(signed.replace('>100<', '>999<'), trust()), 'digest-mismatch');
    await expectRefusal(
      verifyDocument(signed.replace('waehrung="EUR"', 'waehrung="USD"'), trust()),
      'digest-mismatch',
    );
    await expectRefusal(verifyDocument(signed.replace('Müller', 'Mueller'), trust()), 'digest-mismatch');
  });

  it('tampered content with a recomputed DigestValue: signature-mismatch', async () => {
    const tampered = DOCUMENT.replace('>100<', '>999<');
    const digest = createHash('sha256').update(tampered).digest('base64');
    const forged = signed
      .replace('>100<', '>999<')
      .replace(/<ds:DigestValue>[^<]*<\/ds:DigestValue>/, `<ds:DigestValue>${digest}</ds:DigestValue>`);
    await expectRefusal(verifyDocument(forged, trust()), 'signature-mismatch');
  });

  it('signature moved into a wrapper element: signature-placement', async () => {
    const wrapped = `<x:Huelle xmlns:x="urn:xoev-de:test">${signed}</x:Huelle>`;
    await expectRefusal(verifyDocument(wrapped, trust()), 'signature-placement');
    const nested = withoutSignature(signed).replace('</x:Person>', `${signatureOf(signed)}</x:Person>`);
    await expectRefusal(verifyDocument(nested, trust()), 'signature-placement');
  });

  it('signed element moved under a forged root, signature at the new root (URI="#id"): reference-uri', async () => {
    const original = withoutSignature(signedById);
    const forged =
      '<x:Nachricht xmlns:x="urn:xoev-de:test" Id="evil"><x:Person><x:Betrag>999</x:Betrag></x:Person>' +
      `${original}${signatureOf(signedById)}</x:Nachricht>`;
    await expectRefusal(verifyDocument(forged, trust()), 'reference-uri');
  });

  it('signed element moved under a forged root (URI=""): digest-mismatch', async () => {
    const original = withoutSignature(signed);
    const forged =
      '<x:Nachricht xmlns:x="urn:xoev-de:test" Id="evil"><x:Betrag>999</x:Betrag>' +
      `${original}${signatureOf(signed)}</x:Nachricht>`;
    await expectRefusal(verifyDocument(forged, trust()), 'digest-mismatch');
  });

  it('duplicated signed element / shadowed id: duplicate-id', async () => {
    const copy = withoutSignature(signedById).replace('>100<', '>999<');
    const duplicated = signedById.replace('<x:Kopf>', `${copy}<x:Kopf>`);
    await expectRefusal(verifyDocument(duplicated, trust()), 'duplicate-id');
    const shadowed = `<x:Nachricht xmlns:x="urn:xoev-de:test" Id="msg-1"><x:Betrag>999</x:Betrag>${signedById}</x:Nachricht>`;
    await expectRefusal(verifyDocument(shadowed, trust()), 'duplicate-id');
    const viaOtherIdName = signed.replace('<x:Kopf>', '<x:Kopf xml:id="msg-1">');
    await expectRefusal(verifyDocument(viaOtherIdName, trust()), 'duplicate-id');
  });

  it('original wrapped in a ds:Object: signature-structure', async () => {
    const signature = signatureOf(signedById);
    const original = withoutSignature(signedById);
    const withObject = signature.replace(
      '</ds:Signature>',
      `<ds:Object>${original}</ds:Object></ds:Signature>`,
    );
    const forged = `<x:Nachricht xmlns:x="urn:xoev-de:test"><x:Betrag>999</x:Betrag>${withObject}</x:Nachricht>`;
    await expectRefusal(verifyDocument(forged, trust()), 'signature-structure');
  });

  it('second Signature: multiple-signatures', async () => {
    const twice = signed.replace('</x:Nachricht>', `${signatureOf(signed)}</x:Nachricht>`);
    await expectRefusal(verifyDocument(twice, trust()), 'multiple-signatures');
    const hidden = signed.replace('<x:Kopf>', `<x:Kopf>${signatureOf(signed)}`);
    await expectRefusal(verifyDocument(hidden, trust()), 'multiple-signatures');
  });

  it('second SignedInfo or Reference: multiple-signed-info / multiple-references', async () => {
    const signedInfo = /<ds:SignedInfo>.*<\/ds:SignedInfo>/.exec(signed)![0];
    await expectRefusal(
      verifyDocument(signed.replace(signedInfo, signedInfo + signedInfo), trust()),
      'multiple-signed-info',
    );
    const reference = /<ds:Reference URI="">.*<\/ds:Reference>/.exec(signed)![0];
    const extra = reference.replace('URI=""', 'URI="#k"');
    await expectRefusal(
      verifyDocument(signed.replace(reference, reference + extra), trust()),
      'multiple-references',
    );
  });

  it('Reference URI to another element or outside the document: reference-uri', async () => {
    const other = signed.replace('<x:Person>', '<x:Person Id="p1">').replace('URI=""', 'URI="#p1"');
    await expectRefusal(verifyDocument(other, trust()), 'reference-uri');
    await expectRefusal(
      verifyDocument(signed.replace('URI=""', 'URI="#xpointer(/)"'), trust()),
      'reference-uri',
    );
    await expectRefusal(
      verifyDocument(signed.replace('URI=""', 'URI="https://evil.example/doc.xml"'), trust()),
      'reference-uri',
    );
    await expectRefusal(
      verifyDocument(signed.replace('<ds:Reference URI="">', '<ds:Reference>'), trust()),
      'reference-uri',
    );
  });

  it('DOCTYPE, XXE, entity expansion, processing instructions: forbidden-construct', async () => {
    const xxe = `<!DOCTYPE x:Nachricht [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>${signed.replace('>100<', '>&xxe;<')}`;
    await expectRefusal(verifyDocument(xxe, trust()), 'forbidden-construct');
    const lol = '<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">';
    const laughs = `<!DOCTYPE x:Nachricht [${lol}]>${signed.replace('>100<', '>&lol2;<')}`;
    await expectRefusal(verifyDocument(laughs, trust()), 'forbidden-construct');
    const idRedefinition = `<!DOCTYPE x:Nachricht [<!ATTLIST x:Person Id ID #IMPLIED>]>${signed}`;
    await expectRefusal(verifyDocument(idRedefinition, trust()), 'forbidden-construct');
    const pi = signed.replace('<x:Kopf>', '<?xml-stylesheet href="evil.xsl"?><x:Kopf>');
    await expectRefusal(verifyDocument(pi, trust()), 'forbidden-construct');
    const error = await expectRefusal(verifyDocument(xxe, trust()), 'forbidden-construct');
    expect(error.message).toContain('doctype');
    expect((error.cause as GatewayError).code).toBe('GW_ERR_XML_FORBIDDEN_CONSTRUCT');
  });

  it('malformed XML and excessive depth', async () => {
    await expectRefusal(verifyDocument(signed.replace('</x:Kopf>', ''), trust()), 'malformed-xml');
    await expectRefusal(verifyDocument(`${signed}<x:zweite/>`, trust()), 'malformed-xml');
    const deep = signed.replace('>100<', `>${'<x:t>'.repeat(80)}${'</x:t>'.repeat(80)}<`);
    await expectRefusal(verifyDocument(deep, trust()), 'xml-limit');
  });

  it('comment, CDATA, element or inner whitespace in DigestValue: malformed-value', async () => {
    const digest = /<ds:DigestValue>([^<]*)<\/ds:DigestValue>/.exec(signed)![1]!;
    const split = (inner: string) =>
      signed.replace(
        `<ds:DigestValue>${digest}`,
        `<ds:DigestValue>${digest.slice(0, 10)}${inner}${digest.slice(10)}`,
      );
    await expectRefusal(verifyDocument(split('<!-- -->'), trust()), 'malformed-value');
    await expectRefusal(verifyDocument(split('<![CDATA[AAAA]]>'), trust()), 'malformed-value');
    await expectRefusal(verifyDocument(split('<ds:x></ds:x>'), trust()), 'malformed-value');
    await expectRefusal(verifyDocument(split(' \n'), trust()), 'malformed-value');
    await expectRefusal(verifyDocument(split('%'), trust()), 'malformed-value');
    const signatureValue = /<ds:SignatureValue>([^<]*)</.exec(signed)![1]!;
    const commentInSignature = signed.replace(
      signatureValue,
      `${signatureValue.slice(0, 8)}<!---->${signatureValue.slice(8)}`,
    );
    await expectRefusal(verifyDocument(commentInSignature, trust()), 'malformed-value');
  });

  it('KeyInfo with an untrusted certificate: untrusted-certificate', async () => {
    const evilCa = createCa({ commonName: 'Signing Test CA', days: 365, keyAlgorithm: 'rsa-2048' });
    // self-signed: the evil CA certificate signs itself
    const selfSigned = new DocumentSigner(signingKey(evilCa, 'rsa-sha256')).signCanonical(DOCUMENT);
    await expectRefusal(verifyDocument(selfSigned, trust()), 'untrusted-certificate');
    // issued by a foreign CA with the same name as ours
    const foreign = new DocumentSigner(issueSigning(evilCa, 'ecdsa-p256-sha256')).signCanonical(DOCUMENT);
    await expectRefusal(verifyDocument(foreign, trust()), 'untrusted-certificate');
    // our CA certificate itself may not sign documents
    const byCa = new DocumentSigner(signingKey(ca, 'rsa-sha256')).signCanonical(DOCUMENT);
    await expectRefusal(verifyDocument(byCa, trust()), 'untrusted-certificate');
    // a trusted certificate in KeyInfo, but the signature made with another key
    const trustedCert = /<ds:X509Certificate>([^<]*)</.exec(signed)![1]!;
    const evilCert = /<ds:X509Certificate>([^<]*)</.exec(selfSigned)![1]!;
    await expectRefusal(
      verifyDocument(selfSigned.replace(evilCert, trustedCert), trust()),
      'signature-mismatch',
    );
  });

  it('KeyInfo without an X509 certificate: key-info', async () => {
    const keyInfo = /<ds:KeyInfo>.*<\/ds:KeyInfo>/.exec(signed)![0];
    const keyValue =
      '<ds:KeyInfo><ds:KeyValue><ds:RSAKeyValue><ds:Modulus>AQAB</ds:Modulus><ds:Exponent>AQAB</ds:Exponent></ds:RSAKeyValue></ds:KeyValue></ds:KeyInfo>';
    await expectRefusal(verifyDocument(signed.replace(keyInfo, keyValue), trust()), 'key-info');
    const retrieval =
      '<ds:KeyInfo><ds:RetrievalMethod URI="https://evil.example/cert"></ds:RetrievalMethod></ds:KeyInfo>';
    await expectRefusal(verifyDocument(signed.replace(keyInfo, retrieval), trust()), 'key-info');
    const garbage =
      '<ds:KeyInfo><ds:X509Data><ds:X509Certificate>AAAA</ds:X509Certificate></ds:X509Data></ds:KeyInfo>';
    await expectRefusal(verifyDocument(signed.replace(keyInfo, garbage), trust()), 'key-info');
    await expectRefusal(verifyDocument(signed.replace(keyInfo, ''), trust()), 'signature-structure');
  });

  it('algorithm downgrades and dangerous transforms: algorithm-not-allowed', async () => {
    const cases: [string, string][] = [
      ['http://www.w3.org/2001/04/xmlenc#sha256', 'http://www.w3.org/2000/09/xmldsig#sha1'],
      ['http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', 'http://www.w3.org/2000/09/xmldsig#rsa-sha1'],
      ['http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', 'http://www.w3.org/2000/09/xmldsig#hmac-sha1'],
      [
        'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
        'http://www.w3.org/2001/04/xmldsig-more#hmac-sha256',
      ],
      [
        '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"',
        '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#WithComments"',
      ],
      [
        '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"',
        '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"',
      ],
      [
        '<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#">',
        '<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116">',
      ],
    ];
    for (const [from, to] of cases) {
      expect(signed).toContain(from);
      await expectRefusal(verifyDocument(signed.replace(from, to), trust()), 'algorithm-not-allowed');
    }
    const xpath = signed.replace(
      '<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"></ds:Transform>',
      '<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>not(ancestor-or-self::x:Person)</ds:XPath></ds:Transform>',
    );
    await expectRefusal(verifyDocument(xpath, trust()), 'algorithm-not-allowed');
    const extraTransform = signed.replace(
      '</ds:Transforms>',
      '<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"></ds:Transform></ds:Transforms>',
    );
    await expectRefusal(verifyDocument(extraTransform, trust()), 'algorithm-not-allowed');
    const noEnveloped = signed.replace(
      '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"></ds:Transform>',
      '',
    );
    await expectRefusal(verifyDocument(noEnveloped, trust()), 'algorithm-not-allowed');
    const hmacLength = signed.replace(
      '#rsa-sha256"></ds:SignatureMethod>',
      '#rsa-sha256"><ds:HMACOutputLength>0</ds:HMACOutputLength></ds:SignatureMethod>',
    );
    await expectRefusal(verifyDocument(hmacLength, trust()), 'algorithm-not-allowed');
    // an ECDSA signature declared as RSA
    const ecSigned = ecSigner.signCanonical(DOCUMENT);
    await expectRefusal(
      verifyDocument(ecSigned.replace('#ecdsa-sha256', '#rsa-sha256'), trust()),
      'algorithm-not-allowed',
    );
  });

  it('expired or not yet valid certificate: certificate-expired / certificate-not-yet-valid', async () => {
    const expired = new DocumentSigner(
      issueSigning(ca, 'rsa-sha256', { days: 1, notBefore: new Date(Date.now() - 3 * DAY) }),
    );
    await expectRefusal(verifyDocument(expired.signCanonical(DOCUMENT), trust()), 'certificate-expired');
    await expectRefusal(
      verifyDocument(signed, { ...trust(), now: new Date(Date.now() + 40 * DAY) }),
      'certificate-expired',
    );
    const future = new DocumentSigner(
      issueSigning(ca, 'rsa-sha256', { days: 5, notBefore: new Date(Date.now() + DAY) }),
    );
    await expectRefusal(verifyDocument(future.signCanonical(DOCUMENT), trust()), 'certificate-not-yet-valid');
    // the trust anchor's own validity counts too
    await expectRefusal(
      verifyDocument(signed, { ...trust(), now: new Date(Date.now() + 400 * DAY) }),
      'certificate-expired',
    );
  });

  it('revoked serial: certificate-revoked', async () => {
    const serial = new X509Certificate(rsaKey.certPem).serialNumber.toLowerCase();
    const seen: string[] = [];
    await expectRefusal(
      verifyDocument(signed, {
        ...trust(),
        isRevoked: (s) => {
          seen.push(s);
          return s === serial;
        },
      }),
      'certificate-revoked',
    );
    expect(seen).toEqual([serial]);
    await expect(verifyDocument(signed, { ...trust(), isRevoked: () => false })).resolves.toBeDefined();
  });

  it('pinning: certificate-not-pinned unless the signer is the pinned certificate', async () => {
    await expectRefusal(
      verifyDocument(signed, { ...trust(), pinned: new X509Certificate(ecKey.certPem) }),
      'certificate-not-pinned',
    );
    await expect(
      verifyDocument(signed, { ...trust(), pinned: new X509Certificate(rsaKey.certPem) }),
    ).resolves.toBeDefined();
  });

  it('no signature: signature-missing', async () => {
    await expectRefusal(verifyDocument(DOCUMENT, trust()), 'signature-missing');
  });

  it('unexpected content inside the signature: signature-structure', async () => {
    await expectRefusal(
      verifyDocument(signed.replace('<ds:SignedInfo>', '<ds:SignedInfo><!-- x -->'), trust()),
      'signature-structure',
    );
    await expectRefusal(
      verifyDocument(signed.replace('<ds:SignedInfo>', '<ds:SignedInfo>text'), trust()),
      'signature-structure',
    );
    await expectRefusal(
      verifyDocument(signed.replace('<ds:Reference URI="">', '<ds:Reference URI="" Type="urn:x">'), trust()),
      'signature-structure',
    );
  });
});
