/**
 * XML-DSig sealing: the fast canonical signer lives in canonical-signer.ts (re-exported here, where
 * the rest of the codebase imports it from); this file adds the xmldsigjs wiring and the slow
 * reference signer built on it (DOM + canonicalizer), which tests and the bench baseline use.
 */
import { webcrypto } from 'node:crypto';
import { DOMImplementation, DOMParser, XMLSerializer } from '@xmldom/xmldom';
import { setNodeDependencies } from 'xml-core';
import * as xmldsig from 'xmldsigjs';
import * as xpath from 'xpath';
import { GatewayError } from '../errors/catalogue.ts';
import { parseXmlSafely } from '../xml/safe-parse.ts';
import { certificateBase64, EXC_C14N, type SigningKey } from './canonical-signer.ts';

export {
  DIGEST_SHA256,
  DocumentSigner,
  ENVELOPED_SIGNATURE,
  EXC_C14N,
  SIGNATURE_ECDSA_SHA256,
  SIGNATURE_RSA_SHA256,
  type SigningAlgorithm,
  type SigningKey,
  XMLDSIG_NS,
} from './canonical-signer.ts';

let xmldsigReady = false;

/** Wires xmldsigjs to xmldom, xpath and Node's WebCrypto (idempotent). */
export function ensureXmldsigEngine(): void {
  if (xmldsigReady) return;
  // setNodeDependencies lives in xml-core, not xmldsigjs (its README is wrong about that).
  setNodeDependencies({ DOMParser, XMLSerializer, DOMImplementation, xpath });
  xmldsig.Application.setEngine('NodeJS', globalThis.crypto as unknown as Crypto);
  xmldsigReady = true;
}

/** Imports a Node private key into WebCrypto for xmldsigjs. */
export async function toWebCryptoSigningKey(key: SigningKey): Promise<CryptoKey> {
  const der = key.privateKey.export({ type: 'pkcs8', format: 'der' });
  const algorithm =
    key.algorithm === 'rsa-sha256'
      ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
      : { name: 'ECDSA', namedCurve: 'P-256' };
  return (await webcrypto.subtle.importKey('pkcs8', der, algorithm, false, ['sign'])) as unknown as CryptoKey;
}

/**
 * Reference implementation with xmldsigjs (slow: DOM + canonicalizer). Same structure as
 * signCanonical: enveloped, exc-c14n reference and SignedInfo, SHA-256, ds: prefix, X509Certificate,
 * Signature appended as the last child of the root element. Accepts any (non-canonical) document.
 */
export async function signWithXmldsigjs(xml: string, key: SigningKey): Promise<string> {
  ensureXmldsigEngine();
  const document = parseXmlSafely(xml);
  const cryptoKey = await toWebCryptoSigningKey(key);
  const signedXml = new xmldsig.SignedXml();
  signedXml.XmlSignature.Prefix = 'ds';
  signedXml.XmlSignature.SignedInfo.CanonicalizationMethod.Algorithm = EXC_C14N;
  const algorithm =
    key.algorithm === 'rsa-sha256'
      ? { name: 'RSASSA-PKCS1-v1_5' }
      : { name: 'ECDSA', hash: { name: 'SHA-256' } };
  await signedXml.Sign(algorithm, cryptoKey, document, {
    references: [{ uri: '', hash: 'SHA-256', transforms: ['enveloped', 'exc-c14n'] }],
    x509: [certificateBase64(key.certPem)],
  });
  const signature = signedXml.GetXml();
  if (!signature) throw new GatewayError('GW_ERR_INTERNAL', 'xmldsigjs produced no Signature element');
  document.documentElement.appendChild(document.importNode(signature, true));
  return new XMLSerializer().serializeToString(
    document as unknown as Parameters<XMLSerializer['serializeToString']>[0],
  );
}
