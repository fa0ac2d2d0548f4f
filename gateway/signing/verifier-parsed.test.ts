/**
 * verifyDocument with the caller's parsed document (the standard door parses a signed document once,
 * for both its own look at it and the verification): the same verdicts, on the caller's DOM.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { isGatewayError } from '../errors/catalogue.ts';
import { createCa, issueCertificate } from '../pki/ca.ts';
import { parseXmlSafely } from '../xml/safe-parse.ts';
import { DocumentSigner, ensureXmldsigEngine } from './signer.ts';
import { refusalReason, type VerifyOptions, verifyDocument } from './verifier.ts';

const DOCUMENT =
  '<x:Nachricht xmlns:x="urn:xoev-de:test" Id="msg-1"><x:Name>Müller &amp; Söhne</x:Name></x:Nachricht>';

let signed: string;
let options: VerifyOptions;

beforeAll(() => {
  ensureXmldsigEngine();
  const ca = createCa({ commonName: 'Parsed Test CA', days: 365, keyAlgorithm: 'rsa-2048' });
  const issued = issueCertificate(ca, {
    commonName: 'signer',
    usage: 'signing',
    days: 30,
    keyAlgorithm: 'rsa-2048',
  });
  signed = new DocumentSigner({
    privateKey: createPrivateKey(issued.keyPem),
    certPem: issued.certPem,
    algorithm: 'rsa-sha256',
  }).signCanonical(DOCUMENT);
  options = { trustAnchors: [new X509Certificate(ca.certPem)], pinned: new X509Certificate(issued.certPem) };
});

async function verdict(xml: string, parsed?: Document): Promise<string> {
  try {
    const verified = await verifyDocument(xml, options, parsed);
    return `${verified.verifiedBy} ${verified.digest}`;
  } catch (error) {
    if (!isGatewayError(error)) throw error;
    return `${error.code} ${refusalReason(error)}`;
  }
}

describe('verifyDocument with a parsed document', () => {
  it('verifies on the given document and returns it, with the digest of the text', async () => {
    const parsed = parseXmlSafely(signed);
    const verified = await verifyDocument(signed, options, parsed);
    expect(verified.document).toBe(parsed);
    expect(verified.root).toBe(parsed.documentElement);
    expect(`${verified.verifiedBy} ${verified.digest}`).toBe(await verdict(signed));
  });

  it('gives every tampered document the verdict it gets when verifyDocument parses it', async () => {
    const tampered = [
      signed.replace('Müller', 'Muller'),
      signed.replace('Id="msg-1"', 'Id="msg-2"'),
      signed.replace(/<ds:DigestValue>./, '<ds:DigestValue>A'),
      signed.replace(/<ds:SignatureValue>./, '<ds:SignatureValue>A'),
      signed.replace('</x:Nachricht>', '<x:Name>extra</x:Name></x:Nachricht>'),
      signed.replace(/<ds:Signature[\s\S]*<\/ds:Signature>/, ''),
    ];
    for (const xml of tampered) {
      expect(xml).not.toBe(signed);
      const own = await verdict(xml);
      expect(own.startsWith('GW_ERR_SIGNATURE_INVALID'), own).toBe(true);
      expect(await verdict(xml, parseXmlSafely(xml))).toBe(own);
    }
  });
});
