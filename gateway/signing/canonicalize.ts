/**
 * Exclusive XML canonicalization (exc-c14n without comments) of a whole document, with xmldsigjs's
 * canonicalizer over the safely parsed DOM. `gw sign` uses it to bring any input into the form
 * DocumentSigner.signCanonical requires; the interop tests compare it with libxml2's
 * `xmllint --exc-c14n`. Not on the gateway's hot path: the serializer emits canonical XML itself.
 */
import * as xmldsig from 'xmldsigjs';
import { parseXmlSafely } from '../xml/safe-parse.ts';
import { ensureXmldsigEngine } from './signer.ts';

export function canonicalizeDocument(xml: string): string {
  ensureXmldsigEngine();
  const document = parseXmlSafely(xml);
  return new xmldsig.XmlCanonicalizer(false, true).Canonicalize(document);
}
