/**
 * The own-seal fast path (own-seal.ts): it accepts exactly the gateway's canonical seals, reads the
 * same content xmldom reads from them, and every tampered, wrapped or foreign variant either misses
 * the path (and the general verifier decides) or is refused — never read differently.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { catalogue } from '../../standards/index.ts';
import { fromElement, toCanonicalXml, validateMessage } from '../../standards/xoev/xml-codec.ts';
import { REPO_ROOT } from '../config/load.ts';
import { type CertificateAuthority, createCa, issueCertificate } from '../pki/ca.ts';
import { parseXmlSafely } from '../xml/safe-parse.ts';
import { DocumentSigner, type SigningKey } from './canonical-signer.ts';
import { parseCanonical, verifyOwnSealFast, verifySeal } from './own-seal.ts';
import { refusalReason, type VerifyOptions, verifyDocument } from './verifier.ts';

let ca: CertificateAuthority;
let options: VerifyOptions;
let rsaSigner: DocumentSigner;
let ecSigner: DocumentSigner;
let otherSigner: DocumentSigner;
let foreignSigner: DocumentSigner;
let foreignAnchor: X509Certificate;

function key(authority: { certPem: string; keyPem: string }, algorithm: SigningKey['algorithm']): SigningKey {
  const issued = issueCertificate(authority, {
    commonName: `seal ${algorithm}`,
    usage: 'signing',
    days: 30,
    keyAlgorithm: algorithm === 'rsa-sha256' ? 'rsa-2048' : 'ec-p256',
  });
  return { privateKey: createPrivateKey(issued.keyPem), certPem: issued.certPem, algorithm };
}

/** Canonical documents of every catalogued example in the adapters' fixtures (all three domains). */
function canonicalFixtures(): { name: string; xml: string }[] {
  const out: { name: string; xml: string }[] = [];
  const adapters = path.join(REPO_ROOT, 'adapters');
  for (const adapter of readdirSync(adapters)) {
    let files: string[];
    try {
      files = readdirSync(path.join(adapters, adapter, 'fixtures'));
    } catch {
      continue;
    }
    for (const file of files.filter((f) => f.endsWith('.standard.xml'))) {
      const root = parseXmlSafely(readFileSync(path.join(adapters, adapter, 'fixtures', file), 'utf8'))
        .documentElement!;
      const spec = catalogue.byRoot(root.namespaceURI ?? '', root.localName ?? '');
      if (!spec) continue;
      out.push({
        name: `${adapter}/${file}`,
        xml: toCanonicalXml(spec, validateMessage(spec, fromElement(spec, root))),
      });
    }
  }
  return out;
}

/** What the delivery stage reads from a verified root. */
function read(root: Parameters<typeof fromElement>[1]): unknown {
  const spec = catalogue.byRoot(root.namespaceURI ?? '', root.localName ?? '')!;
  return fromElement(spec, root);
}

let fixtures: { name: string; xml: string }[];

beforeAll(() => {
  ca = createCa({ commonName: 'Own Seal Test CA', days: 365, keyAlgorithm: 'rsa-2048' });
  const rsa = key(ca, 'rsa-sha256');
  const ec = key(ca, 'ecdsa-p256-sha256');
  rsaSigner = new DocumentSigner(rsa);
  ecSigner = new DocumentSigner(ec);
  // Trusted CA, but not one of the gateway's sealing certificates.
  otherSigner = new DocumentSigner(key(ca, 'rsa-sha256'));
  const foreignCa = createCa({ commonName: 'Foreign CA', days: 365, keyAlgorithm: 'rsa-2048' });
  foreignSigner = new DocumentSigner(key(foreignCa, 'rsa-sha256'));
  foreignAnchor = new X509Certificate(foreignCa.certPem);
  options = {
    trustAnchors: [new X509Certificate(ca.certPem)],
    pinned: [new X509Certificate(rsa.certPem), new X509Certificate(ec.certPem)],
  };
  fixtures = canonicalFixtures();
});

describe('own seals', () => {
  it('takes the fast path for every catalogued example, and reads what xmldom reads', async () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(20);
    const roots = new Set<string>();
    for (const { name, xml } of fixtures) {
      for (const signer of [rsaSigner, ecSigner]) {
        const sealed = signer.signCanonical(xml);
        const fast = verifyOwnSealFast(sealed, options);
        expect(fast?.verifiedBy, name).toBe('own-seal');
        const general = await verifyDocument(sealed, options);
        expect(fast!.digest).toBe(general.digest);
        expect(fast!.signer).toEqual(general.signer);
        expect(read(fast!.root), name).toEqual(read(general.root));
        expect((await verifySeal(sealed, options)).verifiedBy).toBe('own-seal');
        roots.add(fast!.root.namespaceURI!);
      }
    }
    // Meldewesen, Kfz and Elterngeld documents are all among them.
    expect([...roots].some((ns) => ns.includes('xmeld'))).toBe(true);
    expect([...roots].some((ns) => ns.includes('xkfz'))).toBe(true);
    expect([...roots].some((ns) => ns.includes('xelterngeld'))).toBe(true);
  });

  it('resolves the escapes canonical XML writes, in text and attributes, exactly as xmldom does', () => {
    const xml =
      '<p:r xmlns="urn:d" xmlns:p="urn:p" a="x &amp; &lt;y&gt; &quot;z&quot; &#x9;&#xA;&#xD; é">' +
      '<c b="1">Müller &amp; Söhne &lt;GmbH&gt; &#xD; \t\n😀</c><p:c></p:c></p:r>';
    const ours = parseCanonical(xml)!;
    const theirs = parseXmlSafely(xml).documentElement!;
    const shape = (node: {
      nodeType: number;
      nodeName: string;
      nodeValue: string | null;
      namespaceURI?: string | null;
      localName?: string | null;
      firstChild: unknown;
      nextSibling: unknown;
      attributes?: {
        length: number;
        [i: number]: { name: string; value: string; namespaceURI: string | null } | undefined;
      };
    }): unknown => {
      const children: unknown[] = [];
      for (let n = node.firstChild as typeof node | null; n; n = n.nextSibling as typeof node | null) {
        children.push(shape(n));
      }
      const attributes = [];
      for (let i = 0; i < (node.attributes?.length ?? 0); i++) {
        const a = node.attributes![i]!;
        attributes.push([a.name, a.value, a.namespaceURI]);
      }
      return node.nodeType === 1
        ? { name: node.nodeName, ns: node.namespaceURI, local: node.localName, attributes, children }
        : node.nodeValue;
    };
    expect(shape(ours as never)).toEqual(shape(theirs as never));
  });

  it('refuses, rather than guesses, everything outside the canonical subset', () => {
    for (const xml of [
      '<?xml version="1.0"?><r></r>',
      '<r/>',
      '<r><!-- c --></r>',
      '<r><![CDATA[x]]></r>',
      '<r>a\r\nb</r>',
      // refused by the general path too (xmldom would read them as line feeds)
      '<r>a\u2028b</r>',
      '<r>a\u0085b</r>',
      '<r a="\u2029"></r>',
      '<r>\u0001</r>',
      '<r a="x\ny"></r>',
      "<r a='x'></r>",
      '<r a="1" a="2"></r>',
      '<r xml:lang="de"></r>',
      '<q:r></q:r>',
      '<r>&nbsp;</r>',
      '<r>&#65;</r>',
      '<r>a > b</r>',
      '<r></r><r></r>',
      '<r></r> ',
      '<r><s></r></s>',
      '<r>',
      `<r xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:Signature></ds:Signature></r>`,
      `${'<a>'.repeat(65)}${'</a>'.repeat(65)}`,
    ]) {
      expect(parseCanonical(xml), xml).toBeUndefined();
    }
  });
});

describe('tampered, wrapped and foreign seals', () => {
  const sealedOf = () => rsaSigner.signCanonical(fixtures[0]!.xml);

  async function expectRefused(xml: string, reason?: string): Promise<void> {
    expect(verifyOwnSealFast(xml, options)).toBeUndefined();
    const error = await verifySeal(xml, options).then(
      () => undefined,
      (e: unknown) => e,
    );
    // Refused by the verifier delivery uses; where the reason is named, for exactly that reason.
    expect(refusalReason(error), String(error)).toBeDefined();
    if (reason !== undefined) expect(refusalReason(error), String(error)).toBe(reason);
  }

  it('refuses altered content, digest, signature value and certificate', async () => {
    const sealed = sealedOf();
    const at = sealed.indexOf('<nachrichtenUUID>') + 20;
    await expectRefused(
      `${sealed.slice(0, at)}${sealed[at] === 'a' ? 'b' : 'a'}${sealed.slice(at + 1)}`,
      'digest-mismatch',
    );
    const digestAt = sealed.indexOf('<ds:DigestValue>') + 16;
    await expectRefused(
      `${sealed.slice(0, digestAt)}${sealed[digestAt] === 'A' ? 'B' : 'A'}${sealed.slice(digestAt + 1)}`,
    );
    const valueAt = sealed.indexOf('<ds:SignatureValue>') + 30;
    await expectRefused(
      `${sealed.slice(0, valueAt)}${sealed[valueAt] === 'A' ? 'B' : 'A'}${sealed.slice(valueAt + 1)}`,
      'signature-mismatch',
    );
    const foreign = foreignSigner.signCanonical(fixtures[0]!.xml);
    await expectRefused(foreign, 'untrusted-certificate');
    await expectRefused(otherSigner.signCanonical(fixtures[0]!.xml), 'certificate-not-pinned');
    // The right signature and content, but a certificate swapped in from another seal.
    const otherCert = /<ds:X509Certificate>([^<]*)</.exec(otherSigner.signCanonical(fixtures[0]!.xml))![1]!;
    await expectRefused(sealed.replace(/<ds:X509Certificate>[^<]*</, `<ds:X509Certificate>${otherCert}<`));
  });

  it('honours revocation and validity like the general verifier', async () => {
    const sealed = sealedOf();
    const serial = (options.pinned as X509Certificate[])[0]!.serialNumber.toLowerCase();
    expect(verifyOwnSealFast(sealed, { ...options, isRevoked: (s) => s === serial })).toBeUndefined();
    await expect(verifySeal(sealed, { ...options, isRevoked: (s) => s === serial })).rejects.toMatchObject({
      message: expect.stringMatching(/^certificate-revoked/),
    });
    const later = new Date(Date.now() + 400 * 86_400_000);
    expect(verifyOwnSealFast(sealed, { ...options, now: later })).toBeUndefined();
    await expect(verifySeal(sealed, { ...options, now: later })).rejects.toMatchObject({
      message: expect.stringMatching(/^certificate-expired/),
    });
  });

  it('checks a certificate it has seen before against the trust anchors of each call', async () => {
    const sealed = sealedOf();
    expect(verifyOwnSealFast(sealed, options)?.verifiedBy).toBe('own-seal');
    const otherAnchors = { ...options, trustAnchors: [foreignAnchor] };
    expect(verifyOwnSealFast(sealed, otherAnchors)).toBeUndefined();
    await expect(verifySeal(sealed, otherAnchors)).rejects.toMatchObject({
      message: expect.stringMatching(/^untrusted-certificate/),
    });
    // A fresh array with the same anchor (as LiveTrust passes on every call) is the same trust.
    expect(
      verifyOwnSealFast(sealed, { ...options, trustAnchors: [...options.trustAnchors] })?.verifiedBy,
    ).toBe('own-seal');
  });

  it('never reads content the signature does not cover (wrapping variants)', async () => {
    const sealed = sealedOf();
    const rootEnd = sealed.lastIndexOf('</');
    const blockStart = sealed.indexOf('<ds:Signature');
    const block = sealed.slice(blockStart, rootEnd);
    const rootName = sealed.slice(rootEnd + 2, -1);
    const content = sealed.slice(0, blockStart);
    const forged = content.replace(
      /<nachrichtenUUID>[^<]*</,
      '<nachrichtenUUID>00000000-0000-4000-8000-000000000000<',
    );
    const variants = [
      // a forged element after the signature
      `${content}${block}<evil></evil></${rootName}>`,
      // a second signature block earlier in the content
      `${content.replace('<nachrichtenkopf.g2g>', `<nachrichtenkopf.g2g>${block}`)}${block}</${rootName}>`,
      // the signed document wrapped into a forged one that carries the original signature
      `${forged}<wrapper>${sealed}</wrapper>${block}</${rootName}>`,
      // forged content under the original signature
      `${forged}${block}</${rootName}>`,
      // the block duplicated at the end
      `${content}${block}${block}</${rootName}>`,
    ];
    for (const [i, variant] of variants.entries()) {
      expect(verifyOwnSealFast(variant, options), `variant ${i}`).toBeUndefined();
      await expect(verifySeal(variant, options), `variant ${i}`).rejects.toMatchObject({
        code: 'GW_ERR_SIGNATURE_INVALID',
      });
    }
  });

  it('leaves documents that are valid but not in canonical form to the general verifier', async () => {
    const sealed = sealedOf();
    const rootEnd = sealed.lastIndexOf('</');
    const blockStart = sealed.indexOf('<ds:Signature');
    const block = sealed.slice(blockStart, rootEnd);
    const content = sealed.slice(0, blockStart);
    for (const variant of [`<?xml version="1.0" encoding="UTF-8"?>\n${sealed}`, `${sealed}\n`]) {
      expect(verifyOwnSealFast(variant, options)).toBeUndefined();
      const verified = await verifySeal(variant, options);
      expect(verified.verifiedBy).not.toBe('own-seal');
      expect(read(verified.root)).toEqual(read(verifyOwnSealFast(sealed, options)!.root));
    }
    // An enveloped signature may sit anywhere in the root (valid XML-DSig, same signed content);
    // the codec then refuses the misplaced ds:Signature when reading.
    const moved = `${content.replace(/^(<[^>]*>)/, `$1${block}`)}${sealed.slice(rootEnd)}`;
    expect(verifyOwnSealFast(moved, options)).toBeUndefined();
    const verified = await verifySeal(moved, options);
    expect(verified.verifiedBy).not.toBe('own-seal');
    expect(() => read(verified.root)).toThrow(/Signature/);
  });

  it('agrees with the general verifier on 400 random single-character mutations', async () => {
    const sealed = sealedOf();
    const reference = read(verifyOwnSealFast(sealed, options)!.root);
    let state = 0x9e3779b9;
    const random = () => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) / 2 ** 32;
    };
    const alphabet = '<>/"=& :abcAB09+\n';
    let fast = 0;
    for (let i = 0; i < 400; i++) {
      const at = Math.floor(random() * sealed.length);
      const mode = Math.floor(random() * 3);
      const c = alphabet[Math.floor(random() * alphabet.length)]!;
      const mutated =
        mode === 0
          ? sealed.slice(0, at) + c + sealed.slice(at + 1)
          : mode === 1
            ? sealed.slice(0, at) + c + sealed.slice(at)
            : sealed.slice(0, at) + sealed.slice(at + 1);
      if (mutated === sealed) continue;
      if (verifyOwnSealFast(mutated, options)) fast++;
      // The verifier delivery uses (fast path, else the general one): refused, or read unchanged.
      const outcome = await verifySeal(mutated, options).then(
        (seal) => read(seal.root),
        (error: unknown) => refusalReason(error),
      );
      if (typeof outcome === 'string' || outcome === undefined)
        expect(outcome, `mutation ${i}: ${String(outcome)}`).toBeDefined();
      else expect(outcome, `mutation ${i}`).toEqual(reference);
    }
    expect(fast).toBe(0);
  });
});
