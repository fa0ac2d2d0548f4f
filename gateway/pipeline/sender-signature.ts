/**
 * The sender's own signature on a standard document (POST /v1/messages): verified against the
 * sending system's certificate as the gateway issued it — pinned, so that a document signed with
 * any other key (even one the gateway CA issued to another system) is refused. The pin comes from
 * the system certificate store (gateway/pki/system-pins.ts): the data directory's file, read on each
 * use, or PostgreSQL shared by the replicas, where a re-issue beside any replica counts within a
 * poll and a pin that cannot be confirmed current refuses the document (GW_ERR_NOT_READY).
 */
import type { X509Certificate } from 'node:crypto';
import { GatewayError } from '../errors/catalogue.ts';
import type { VerifiedDocument } from '../signing/verifier.ts';

export interface SenderSignatureDeps {
  /** The system's current pin (SystemPins.pinnedCertificate); null when it has none. */
  pinnedCertificate(systemId: string): Promise<X509Certificate | null>;
  /** Chain, validity and revocation checks plus the pin (LiveTrust.verifySignedBy). */
  verifySignedBy(xml: string, pinned: X509Certificate, parsed: Document): Promise<VerifiedDocument>;
}

/** `parsed` is the ingress's parseXmlSafely(xml): the verifier reads it instead of parsing again. */
export function senderSignatureVerifier(deps: SenderSignatureDeps) {
  return async (xml: string, systemId: string, parsed: Document): Promise<VerifiedDocument> => {
    let pinned: X509Certificate | null;
    try {
      pinned = await deps.pinnedCertificate(systemId);
    } catch (cause) {
      // The store could not confirm the pin: not the sender's fault, and worth a retry.
      if (cause instanceof GatewayError && cause.code === 'GW_ERR_NOT_READY') throw cause;
      throw new GatewayError(
        'GW_ERR_SIGNATURE_INVALID',
        `certificate-not-pinned: the gateway holds no readable certificate for ${systemId}`,
        { cause },
      );
    }
    if (!pinned) {
      throw new GatewayError(
        'GW_ERR_SIGNATURE_INVALID',
        `certificate-not-pinned: the gateway holds no certificate for ${systemId}`,
      );
    }
    return deps.verifySignedBy(xml, pinned, parsed);
  };
}
