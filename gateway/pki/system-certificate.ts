/**
 * What both system certificate stores check before they pin, and how they describe a certificate:
 * the same refusals whichever store the configuration chose, so a PEM the file store refuses is
 * not admitted by PostgreSQL and the other way round.
 */
import { X509Certificate } from 'node:crypto';
import { GatewayError } from '../errors/catalogue.ts';
import type { PinInput, SystemCertificate } from '../ports/system-certificate-store.ts';
import { assertSystemId, systemIdOfCertificate } from './bootstrap.ts';
import { normalizeSerial } from './revocation.ts';

/** The parsed certificate of a pin request; throws GW_ERR_BAD_REQUEST when it is not one naming the system. */
export function certificateToPin(input: Pick<PinInput, 'systemId' | 'certificatePem'>): X509Certificate {
  assertSystemId(input.systemId);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(input.certificatePem);
  } catch (cause) {
    throw new GatewayError('GW_ERR_BAD_REQUEST', `pki: not a certificate to pin for ${input.systemId}`, {
      cause,
    });
  }
  const named = systemIdOfCertificate(certificate);
  if (named !== input.systemId) {
    throw new GatewayError(
      'GW_ERR_BAD_REQUEST',
      `pki: the certificate names ${named ?? 'no system'}, not ${input.systemId}; it cannot be its pin`,
    );
  }
  return certificate;
}

export function describeSystemCertificate(
  systemId: string,
  certificate: X509Certificate,
  issued: { at: string; by?: string | undefined },
): SystemCertificate {
  return {
    systemId,
    serial: normalizeSerial(certificate.serialNumber),
    certificatePem: certificate.toString(),
    notBefore: new Date(certificate.validFrom).toISOString(),
    notAfter: new Date(certificate.validTo).toISOString(),
    issuedAt: issued.at,
    ...(issued.by !== undefined ? { issuedBy: issued.by } : {}),
  };
}

export function replacedPinRefusal(systemId: string, serial: string): GatewayError {
  return new GatewayError(
    'GW_ERR_BAD_REQUEST',
    `pki: certificate ${serial} was pinned for ${systemId} before and replaced; a replaced certificate is never pinned again`,
  );
}
