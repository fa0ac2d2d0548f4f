/**
 * The sender's own signature on a standard document (POST /v1/messages): verified against the
 * sending system's certificate as the gateway issued it into the data directory — pinned, so that a
 * document signed with any other key (even one the gateway CA issued to another system) is refused.
 * The file is read on each use: a re-issued certificate counts at once.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { GatewayError } from '../errors/catalogue.ts';
import type { VerifiedDocument } from '../signing/verifier.ts';

export interface SenderSignatureDeps {
  /** `<dataDir>/pki/systems/<id>.crt` (Pki.systemCertPath). */
  systemCertPath(systemId: string): string;
  /** Chain, validity and revocation checks plus the pin (LiveTrust.verifySignedBy). */
  verifySignedBy(xml: string, pinned: X509Certificate, parsed: Document): Promise<VerifiedDocument>;
}

/** `parsed` is the ingress's parseXmlSafely(xml): the verifier reads it instead of parsing again. */
export function senderSignatureVerifier(deps: SenderSignatureDeps) {
  return async (xml: string, systemId: string, parsed: Document): Promise<VerifiedDocument> => {
    let pinned: X509Certificate;
    try {
      pinned = new X509Certificate(await readFile(deps.systemCertPath(systemId)));
    } catch (cause) {
      throw new GatewayError(
        'GW_ERR_SIGNATURE_INVALID',
        `certificate-not-pinned: the gateway holds no certificate for ${systemId}`,
        { cause },
      );
    }
    return deps.verifySignedBy(xml, pinned, parsed);
  };
}
