/**
 * Interoperability with the reference XML-DSig implementation (Debian's xmlsec1 / libxml2):
 * - everything the gateway signs verifies with `xmlsec1 --verify --trusted-pem ca.crt`;
 * - documents signed by `xmlsec1 --sign` verify in the gateway's verifyDocument;
 * both for RSA-SHA256 and ECDSA-P256-SHA256, with the PKI the gateway bootstraps.
 * Random documents are canonicalized by libxml2 (`xmllint --exc-c14n`), i.e. independently of
 * our own code, before the fast signer signs them.
 *
 * xmlsec1 and xmllint are required: this suite fails (it does not skip) when they are missing.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGatewayError } from '../../gateway/errors/catalogue.ts';
import { ensurePki, type Pki, type SigningAlgorithm } from '../../gateway/pki/bootstrap.ts';
import { createCa, issueCertificate } from '../../gateway/pki/ca.ts';
import { DocumentSigner, signWithXmldsigjs } from '../../gateway/signing/signer.ts';
import { refusalReason, verifyDocument } from '../../gateway/signing/verifier.ts';

const execFileAsync = promisify(execFile);

const DOCUMENT =
  '<x:Nachricht xmlns:x="urn:xoev-de:test" Id="msg-1" version="25.11">' +
  '<x:Kopf><x:UUID>0f8fad5b-d9cb-469f-a165-70867728950e</x:UUID></x:Kopf>' +
  '<x:Person><x:Name>Müller &amp; Söhne &lt;GmbH&gt; "Straße"</x:Name><x:Betrag waehrung="EUR">100</x:Betrag></x:Person>' +
  '</x:Nachricht>';

const SIGNATURE_METHOD: Record<SigningAlgorithm, string> = {
  'rsa-sha256': 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  'ecdsa-p256-sha256': 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256',
};

/** A template as a system would write it: XML declaration, indentation, exc-c14n, enveloped, X509Data. */
function template(algorithm: SigningAlgorithm, uri: '' | '#msg-1'): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<x:Nachricht xmlns:x="urn:xoev-de:test" Id="msg-1" version="25.11">
  <x:Kopf>
    <x:UUID>7d9f3c2e-1b4a-4f0e-9c3d-2a1b0c9d8e7f</x:UUID>
  </x:Kopf>
  <x:Person>
    <x:Name>Jörg Weiß &amp; Söhne &lt;GmbH&gt;</x:Name>
    <x:Betrag waehrung='EUR'>250</x:Betrag>
    <x:Leer/>
  </x:Person>
  <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
    <ds:SignedInfo>
      <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
      <ds:SignatureMethod Algorithm="${SIGNATURE_METHOD[algorithm]}"/>
      <ds:Reference URI="${uri}">
        <ds:Transforms>
          <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
          <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
        </ds:Transforms>
        <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
        <ds:DigestValue/>
      </ds:Reference>
    </ds:SignedInfo>
    <ds:SignatureValue/>
    <ds:KeyInfo>
      <ds:X509Data/>
    </ds:KeyInfo>
  </ds:Signature>
</x:Nachricht>
`;
}

let work: string;
let fileCounter = 0;

function tempFile(name: string, content: string): string {
  const file = path.join(work, `${++fileCounter}-${name}`);
  writeFileSync(file, content);
  return file;
}

/** Runs xmlsec1; resolves with its exit code and output (never rejects on a non-zero exit). */
async function run(
  command: string,
  args: string[],
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = execFileAsync(command, args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  try {
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw error;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** `xmlsec1 --verify`; only same-document references are enabled ("empty" by default: URI=""). */
async function xmlsec1Verify(
  xml: string,
  caFile: string,
  options: { uris?: string; extra?: string[] } = {},
): Promise<{ ok: boolean; output: string }> {
  const file = tempFile('verify.xml', xml);
  const uris = options.uris ?? 'empty';
  const result = await run('xmlsec1', [
    '--verify',
    '--trusted-pem',
    caFile,
    '--enabled-reference-uris',
    uris,
    ...(options.extra ?? []),
    file,
  ]);
  return { ok: result.code === 0, output: result.stdout + result.stderr };
}

async function xmlsec1Sign(
  templateXml: string,
  keyFile: string,
  certFile: string,
  extra: string[] = [],
): Promise<string> {
  const input = tempFile('template.xml', templateXml);
  const output = path.join(work, `${++fileCounter}-signed.xml`);
  const result = await run('xmlsec1', [
    '--sign',
    ...extra,
    '--pkcs8-pem',
    `${keyFile},${certFile}`,
    '--output',
    output,
    input,
  ]);
  expect(result.code, result.stderr).toBe(0);
  return readFileSync(output, 'utf8');
}

async function excC14n(xml: string): Promise<string> {
  const result = await run('xmllint', ['--exc-c14n', tempFile('c14n.xml', xml)]);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout;
}

interface Setup {
  pki: Pki;
  caFile: string;
  signer: DocumentSigner;
  systemKeyFile: string;
  systemCertFile: string;
  systemCert: X509Certificate;
}

const setups = new Map<SigningAlgorithm, Setup>();

beforeAll(async () => {
  // Fail, do not skip, when the reference implementation is missing.
  for (const [tool, args] of [
    ['xmlsec1', ['--version']],
    ['xmllint', ['--version']],
  ] as const) {
    try {
      execFileSync(tool, [...args], { stdio: 'pipe' });
    } catch (error) {
      throw new Error(
        `${tool} is required for the interop suite (apt-get install -y xmlsec1 libxml2-utils): ${String(error)}`,
      );
    }
  }
  work = mkdtempSync(path.join(tmpdir(), 'gw-xmlsec1-'));
  for (const algorithm of ['rsa-sha256', 'ecdsa-p256-sha256'] as const) {
    const pki = await ensurePki({
      dir: path.join(work, algorithm, 'pki'),
      systems: ['sn-melde'],
      passphrase: 'interop test passphrase',
      signingAlgorithm: algorithm,
      rsaBits: 2048,
      serverNames: ['localhost'],
    });
    setups.set(algorithm, {
      pki,
      caFile: path.join(pki.dir, 'ca.crt'),
      signer: new DocumentSigner(pki.signing),
      systemKeyFile: pki.systemKeyPath('sn-melde'),
      systemCertFile: pki.systemCertPath('sn-melde'),
      systemCert: new X509Certificate(readFileSync(pki.systemCertPath('sn-melde'))),
    });
  }
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function setup(algorithm: SigningAlgorithm): Setup {
  return setups.get(algorithm)!;
}

describe.each(['rsa-sha256', 'ecdsa-p256-sha256'] as const)('xmlsec1 interop, %s', (algorithm) => {
  it('the fast signer output verifies with xmlsec1 --verify --trusted-pem', async () => {
    const { signer, caFile } = setup(algorithm);
    const signed = signer.signCanonical(DOCUMENT);
    const result = await xmlsec1Verify(signed, caFile);
    expect(result.ok, result.output).toBe(true);
    expect(result.output).toContain('SignedInfo References (ok/all): 1/1');
  });

  it('the xmldsigjs reference signer output verifies with xmlsec1 too', async () => {
    const { pki, caFile } = setup(algorithm);
    const signed = await signWithXmldsigjs(DOCUMENT, pki.signing);
    const result = await xmlsec1Verify(signed, caFile);
    expect(result.ok, result.output).toBe(true);
  });

  it('xmlsec1 refuses tampered documents and signers outside the trusted CA (negative control)', async () => {
    const { signer, caFile } = setup(algorithm);
    const signed = signer.signCanonical(DOCUMENT);
    expect((await xmlsec1Verify(signed.replace('>100<', '>999<'), caFile)).ok).toBe(false);
    const foreign = createCa({ commonName: 'Foreign CA', days: 1, keyAlgorithm: 'rsa-2048' });
    const foreignCert = issueCertificate(foreign, {
      commonName: 'foreign signer',
      usage: 'signing',
      days: 1,
      keyAlgorithm: algorithm === 'rsa-sha256' ? 'rsa-2048' : 'ec-p256',
    });
    const foreignSigned = new DocumentSigner({
      privateKey: createPrivateKey(foreignCert.keyPem),
      certPem: foreignCert.certPem,
      algorithm,
    }).signCanonical(DOCUMENT);
    expect((await xmlsec1Verify(foreignSigned, caFile)).ok).toBe(false);
  });

  it.each([
    [
      'a root binding "ds" to another namespace',
      '<ds:Antrag xmlns:ds="urn:example:ds"><ds:Feld>1</ds:Feld></ds:Antrag>',
    ],
    ['a default namespace and xmlns=""', '<a xmlns="urn:d"><b xmlns=""><c>x</c></b><d></d></a>'],
    [
      'escaped CR, tab and newline in attributes and text',
      '<a b="&#x9;&#xA;&#xD;&quot;&lt;>&amp;">x&#xD;y\n&gt;</a>',
    ],
    ['non-BMP characters and umlauts', '<Straße Ä="Ö">😀 Grüße</Straße>'],
    ['an empty root', '<leer></leer>'],
  ])('edge case: %s', async (_name, canonical) => {
    const { signer, caFile, pki } = setup(algorithm);
    expect(await excC14n(canonical)).toBe(canonical); // the fixture is canonical per libxml2
    const signed = signer.signCanonical(canonical);
    const result = await xmlsec1Verify(signed, caFile);
    expect(result.ok, result.output).toBe(true);
    expect((await verifyDocument(signed, { trustAnchors: [pki.caX509] })).verifiedBy).toBe('canonical-bytes');
  });

  it('random documents canonicalized by libxml2 and signed by the fast signer verify with xmlsec1', async () => {
    const { signer, caFile, pki } = setup(algorithm);
    await fc.assert(
      fc.asyncProperty(looseDocumentArb, async (loose) => {
        const canonical = await excC14n(loose);
        const signed = signer.signCanonical(canonical);
        const result = await xmlsec1Verify(signed, caFile);
        expect(result.ok, `${result.output}\n${signed}`).toBe(true);
        expect((await verifyDocument(signed, { trustAnchors: [pki.caX509] })).verifiedBy).toBe(
          'canonical-bytes',
        );
        await verifyDocument(signed, { trustAnchors: [pki.caX509], engine: 'xmldsigjs' });
      }),
      { numRuns: 25 },
    );
  });

  it.each(['', '#msg-1'] as const)(
    'a document signed by xmlsec1 --sign (URI="%s") verifies in verifyDocument',
    async (uri) => {
      const { pki, systemKeyFile, systemCertFile, systemCert, caFile } = setup(algorithm);
      const idArgs = uri ? ['--id-attr:Id', 'urn:xoev-de:test:Nachricht'] : [];
      const signed = await xmlsec1Sign(template(algorithm, uri), systemKeyFile, systemCertFile, idArgs);
      expect(signed).toMatch(/<ds:SignatureValue>[A-Za-z0-9+/=\s]+<\/ds:SignatureValue>/);
      // the reference implementation agrees that it is valid
      const check = await xmlsec1Verify(signed, caFile, uri ? { uris: 'same-doc', extra: idArgs } : {});
      expect(check.ok, check.output).toBe(true);

      const verified = await verifyDocument(signed, { trustAnchors: [pki.caX509], pinned: systemCert });
      expect(verified.verifiedBy).toBe('xmldsigjs'); // pretty-printed: not canonical as sent
      expect(verified.signer.serial).toBe(systemCert.serialNumber.toLowerCase());
      expect(verified.root.getElementsByTagNameNS('urn:xoev-de:test', 'Name')[0]?.textContent).toBe(
        'Jörg Weiß & Söhne <GmbH>',
      );
      expect(pki.systemOfClientCertificate({ raw: systemCert.raw })?.systemId).toBe('sn-melde');

      // and the gateway refuses the same document once it is altered
      const error = await verifyDocument(signed.replace('>250<', '>999<'), {
        trustAnchors: [pki.caX509],
      }).catch((e: unknown) => e);
      expect(isGatewayError(error) && refusalReason(error)).toBe('digest-mismatch');
      // or when the directory pins another certificate for the sender
      const other = await verifyDocument(signed, {
        trustAnchors: [pki.caX509],
        pinned: new X509Certificate(pki.signing.certPem),
      }).catch((e: unknown) => e);
      expect(refusalReason(other)).toBe('certificate-not-pinned');
    },
  );
});

// --- random, deliberately non-canonical documents ----------------------------------------------------

interface Loose {
  name: string;
  prefix: '' | 'p' | 'q';
  defaultNs: 'inherit' | 'urn:x-d' | '';
  attrs: { name: string; prefix: '' | 'p'; value: string; quote: '"' | "'" }[];
  children: (Loose | { text: string; cdata: boolean })[];
  declareUnused: boolean;
}

const CHARS = [
  'a',
  'Z',
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
  '€',
  '😀',
  '\n',
  '\t',
  '\r\n',
  ']',
];
const looseTextArb = fc.array(fc.constantFrom(...CHARS), { maxLength: 10 }).map((c) => c.join(''));

function escapeLoose(text: string, quote?: string): string {
  let out = text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  if (!quote) out = out.replace(/>/g, '&gt;'); // "]]>" may not appear in character data
  if (quote === '"') out = out.replace(/"/g, '&quot;');
  if (quote === "'") out = out.replace(/'/g, '&apos;');
  return out;
}

/**
 * Serializes without any canonical discipline: quote styles, attribute order, empty-element tags,
 * CDATA sections, redundant and unused namespace declarations, an optional XML declaration.
 * (No comments: `xmllint --exc-c14n` keeps them, and signCanonical's input is the form without.)
 */
function serializeLoose(element: Loose): string {
  const qname = element.prefix ? `${element.prefix}:${element.name}` : element.name;
  let head = `<${qname}`;
  if (element.prefix) head += ` xmlns:${element.prefix}="urn:x-${element.prefix}"`;
  if (element.defaultNs !== 'inherit') head += ` xmlns="${element.defaultNs}"`;
  if (element.declareUnused) head += ' xmlns:unused="urn:x-unused"';
  if (element.prefix !== 'p' && element.attrs.some((attr) => attr.prefix === 'p')) {
    head += ' xmlns:p="urn:x-p"';
  }
  for (const attr of element.attrs) {
    const name = attr.prefix ? `${attr.prefix}:${attr.name}` : attr.name;
    head += ` ${name}=${attr.quote}${escapeLoose(attr.value, attr.quote)}${attr.quote}`;
  }
  if (element.children.length === 0) return `${head} />`;
  const body = element.children
    .map((child) => {
      if ('text' in child) {
        return child.cdata && !child.text.includes(']]>')
          ? `<![CDATA[${child.text}]]>`
          : escapeLoose(child.text);
      }
      return serializeLoose(child);
    })
    .join('');
  return `${head}>${body}</${qname}>`;
}

const { element: looseElementArb } = fc.letrec<{ element: Loose; node: Loose['children'][number] }>(
  (tie) => ({
    element: fc.record({
      name: fc.constantFrom('Nachricht', 'kopf', 'person', 'b'),
      prefix: fc.constantFrom('' as const, 'p' as const, 'q' as const),
      defaultNs: fc.constantFrom('inherit' as const, 'urn:x-d' as const, '' as const),
      attrs: fc.uniqueArray(
        fc.record({
          name: fc.constantFrom('typ', 'wert', 'a', 'z'),
          prefix: fc.constantFrom('' as const, 'p' as const),
          value: looseTextArb,
          quote: fc.constantFrom('"' as const, "'" as const),
        }),
        { selector: (a) => `${a.prefix}:${a.name}`, maxLength: 4 },
      ),
      children: fc.array(tie('node'), { maxLength: 4 }),
      declareUnused: fc.boolean(),
    }),
    node: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.record({ text: looseTextArb, cdata: fc.boolean() }),
      tie('element'),
    ),
  }),
);

const looseDocumentArb = fc
  .tuple(looseElementArb, fc.boolean())
  .map(
    ([root, declaration]) =>
      `${declaration ? '<?xml version="1.0" encoding="UTF-8"?>\n' : ''}${serializeLoose(root)}\n`,
  );
