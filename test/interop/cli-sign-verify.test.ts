/**
 * `gw sign` and `gw verify` as processes, against the reference implementation: what `gw sign`
 * writes verifies with Debian's `xmlsec1 --verify`, what `xmlsec1 --sign` writes verifies with
 * `gw verify`, and `gw verify` exits 1 with the reason token on every kind of bad document. The
 * canonicalization `gw sign` applies first agrees with libxml2's `xmllint --exc-c14n`.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { ensurePki, type Pki } from '../../gateway/pki/bootstrap.ts';
import { createCa } from '../../gateway/pki/ca.ts';
import { canonicalizeDocument } from '../../gateway/signing/canonicalize.ts';

const execFileAsync = promisify(execFile);
const GW = path.join(REPO_ROOT, 'bin/gw.js');
// Each `gw` process starts Node, tsx and the CLI's modules: seconds apiece on a busy 2-core machine.
const PROCESS_TEST_TIMEOUT_MS = 180_000;

/** Pretty-printed, with an XML declaration, comments, CDATA, a default namespace, unsorted attributes. */
const INPUT = `<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment before the root -->
<x:Nachricht xmlns:x="urn:xoev-de:test" xmlns:unused="urn:u" version='25.11' Id="msg-1">
  <x:Kopf>
    <x:UUID>7d9f3c2e-1b4a-4f0e-9c3d-2a1b0c9d8e7f</x:UUID><!-- inside -->
  </x:Kopf>
  <Person xmlns="urn:default" z:att="q" xmlns:z="urn:z"><![CDATA[a < b & c]]><x:Leer/> Grüße&gt;</Person>
</x:Nachricht>
`;

let work: string;
let n = 0;
const pkis = new Map<string, Pki>();

function file(name: string, content: string): string {
  const full = path.join(work, `${++n}-${name}`);
  writeFileSync(full, content);
  return full;
}

function gw(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [GW, ...args], { cwd: REPO_ROOT, env: { ...process.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function tool(
  command: string,
  args: string[],
): Promise<{ code: number; output: string; stdout: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(command, args, { encoding: 'utf8' });
    return { code: 0, output: stdout + stderr, stdout };
  } catch (error) {
    const e = error as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number')
      throw new Error(`${command} is required (apt-get install xmlsec1 libxml2-utils)`);
    return { code: e.code, output: (e.stdout ?? '') + (e.stderr ?? ''), stdout: e.stdout ?? '' };
  }
}

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'gw-cli-sign-'));
  for (const algorithm of ['rsa-sha256', 'ecdsa-p256-sha256'] as const) {
    pkis.set(
      algorithm,
      await ensurePki({
        dir: path.join(work, algorithm),
        systems: ['sn-melde', 'st-melde'],
        passphrase: 'cli sign test passphrase',
        signingAlgorithm: algorithm,
        rsaBits: 2048,
        serverNames: ['localhost'],
      }),
    );
  }
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.each(['rsa-sha256', 'ecdsa-p256-sha256'] as const)('gw sign / gw verify, %s', (algorithm) => {
  const xmlsec1Verify = (ca: string, xmlFile: string) =>
    tool('xmlsec1', ['--verify', '--trusted-pem', ca, '--enabled-reference-uris', 'empty', xmlFile]);

  it(
    'gw sign output verifies with xmlsec1 and gw verify; the signer is named',
    async () => {
      const pki = pkis.get(algorithm)!;
      const ca = path.join(pki.dir, 'ca.crt');
      const signed = await gw([
        'sign',
        '--key',
        pki.systemKeyPath('sn-melde'),
        '--cert',
        pki.systemCertPath('sn-melde'),
        file('input.xml', INPUT),
      ]);
      expect(signed.code, signed.stderr).toBe(0);
      expect(signed.stdout).toContain(
        algorithm === 'rsa-sha256' ? 'xmldsig-more#rsa-sha256' : 'xmldsig-more#ecdsa-sha256',
      );
      expect(signed.stdout).not.toContain('<!--');
      const signedFile = file('signed.xml', signed.stdout);
      const tampered = file('tampered.xml', signed.stdout.replace('Grüße', 'Grüsse'));

      // Side by side: every gw process starts Node and tsx, which is slow on a busy machine.
      const [reference, referenceOnTampered, verified, refused, notPinned] = await Promise.all([
        xmlsec1Verify(ca, signedFile),
        xmlsec1Verify(ca, tampered),
        gw(['verify', '--trust', ca, '--pinned', pki.systemCertPath('sn-melde'), signedFile]),
        gw(['verify', '--trust', ca, tampered]),
        gw(['verify', '--trust', ca, '--pinned', pki.systemCertPath('st-melde'), '--json', signedFile]),
      ]);
      expect(reference.code, reference.output).toBe(0);
      expect(verified.code, verified.stderr).toBe(0);
      expect(verified.stdout).toMatch(/^valid: signed by CN=sn-melde \(serial [0-9a-f]+\)/);
      // Negative controls: both tools refuse the same tampering; gw names the reason.
      expect(referenceOnTampered.code).not.toBe(0);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toMatch(/^invalid: digest-mismatch: /);
      expect(notPinned.code).toBe(1);
      expect(JSON.parse(notPinned.stdout)).toMatchObject({ valid: false, reason: 'certificate-not-pinned' });
    },
    PROCESS_TEST_TIMEOUT_MS,
  );

  it(
    'a document xmlsec1 signed verifies with gw verify; a foreign trust anchor does not',
    async () => {
      const pki = pkis.get(algorithm)!;
      const method =
        algorithm === 'rsa-sha256'
          ? 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256'
          : 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256';
      const template = `<?xml version="1.0" encoding="UTF-8"?>
<x:Nachricht xmlns:x="urn:xoev-de:test">
  <x:Wert>42</x:Wert>
  <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
    <ds:SignedInfo>
      <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
      <ds:SignatureMethod Algorithm="${method}"/>
      <ds:Reference URI="">
        <ds:Transforms>
          <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
          <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
        </ds:Transforms>
        <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
        <ds:DigestValue/>
      </ds:Reference>
    </ds:SignedInfo>
    <ds:SignatureValue/>
    <ds:KeyInfo><ds:X509Data/></ds:KeyInfo>
  </ds:Signature>
</x:Nachricht>
`;
      const output = path.join(work, `${++n}-xmlsec1-signed.xml`);
      const signing = await tool('xmlsec1', [
        '--sign',
        '--pkcs8-pem',
        `${pki.systemKeyPath('st-melde')},${pki.systemCertPath('st-melde')}`,
        '--output',
        output,
        file('template.xml', template),
      ]);
      expect(signing.code, signing.output).toBe(0);
      expect(readFileSync(output, 'utf8')).toContain('<ds:X509Certificate>');
      const foreign = file(
        'foreign-ca.pem',
        createCa({ commonName: 'Foreign CA', days: 1, keyAlgorithm: 'rsa-2048' }).certPem,
      );
      const [verified, untrusted] = await Promise.all([
        gw(['verify', '--trust', path.join(pki.dir, 'ca.crt'), '--json', output]),
        gw(['verify', '--trust', foreign, output]),
      ]);
      expect(verified.code, verified.stderr).toBe(0);
      expect(JSON.parse(verified.stdout)).toMatchObject({ valid: true, signer: { subject: 'CN=st-melde' } });
      expect(untrusted.code).toBe(1);
      expect(untrusted.stdout).toMatch(/^invalid: untrusted-certificate: /);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );
});

describe('hostile input to the commands', () => {
  it(
    'a DOCTYPE: gw verify answers forbidden-construct, gw sign refuses; unsigned: signature-missing',
    async () => {
      const pki = pkis.get('rsa-sha256')!;
      const ca = path.join(pki.dir, 'ca.crt');
      const xxe = file(
        'xxe.xml',
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
      );
      const [verified, signed, unsigned] = await Promise.all([
        gw(['verify', '--trust', ca, xxe]),
        gw(['sign', '--key', pki.systemKeyPath('sn-melde'), '--cert', pki.systemCertPath('sn-melde'), xxe]),
        gw(['verify', '--trust', ca, file('plain.xml', '<a>1</a>')]),
      ]);
      expect(verified.code).toBe(1);
      expect(verified.stdout).toMatch(/^invalid: forbidden-construct: doctype/);
      expect(signed.code).toBe(1);
      expect(signed.stdout).toBe('');
      expect(signed.stderr).toContain('GW_ERR_XML_FORBIDDEN_CONSTRUCT');
      expect(unsigned.code).toBe(1);
      expect(unsigned.stdout).toMatch(/^invalid: signature-missing/);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );
});

describe('the canonicalization gw sign applies', () => {
  it.each([
    ['the pretty-printed input without its comments', INPUT.replace(/<!--[^>]*-->\n?/g, '')],
    [
      'namespaces declared late and unused',
      '<a xmlns:p="urn:p" xmlns:q="urn:q"><b><p:c q:d="1" e="2"></p:c></b></a>',
    ],
    ['a default namespace undeclared below', '<a xmlns="urn:d"><b xmlns=""><c/></b></a>'],
    ['attribute values with whitespace and entities', '<a z="&#9;x&#10;" b=\'&lt;"&amp;\' a="1"/>'],
    ['xml:lang and xml:space', '<a xml:lang="de"><b xml:space="preserve">  x  </b></a>'],
  ])('agrees with xmllint --exc-c14n: %s', async (_name, xml) => {
    const reference = await tool('xmllint', ['--exc-c14n', file('c14n.xml', xml)]);
    expect(reference.code, reference.output).toBe(0);
    expect(canonicalizeDocument(xml)).toBe(reference.stdout);
  });
});
