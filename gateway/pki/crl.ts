/**
 * X.509 v2 CRL (RFC 5280 §5), DER, signed by the gateway CA with sha256WithRSAEncryption.
 *
 * Built by hand with node-forge's ASN.1 writer: forge has no CRL support, and Node's crypto can only
 * consume CRLs (tls `crl` option). Two details matter for relying parties:
 * - the issuer Name is copied as DER from the CA certificate's subject, so name matching (a byte
 *   comparison in OpenSSL) never depends on how we would re-encode the name;
 * - every CRL carries a cRLNumber that increases from one CRL to the next (callers pass it) and an
 *   authorityKeyIdentifier equal to the CA's subjectKeyIdentifier.
 */
import { type KeyObject, sign, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { derToAsn1, subjectKeyIdentifier } from './ca.ts';

const { asn1 } = forge;

/** RFC 5280 CRLReason. */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;

export interface CrlEntry {
  /** Lower-case hex without separators. */
  serial: string;
  revokedAt: Date;
  reason: RevocationReason;
}

export interface CrlContent {
  entries: readonly CrlEntry[];
  thisUpdate: Date;
  nextUpdate: Date;
  /** Monotonically increasing across the CRLs this CA issues. */
  number: bigint;
}

const OID = {
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  authorityKeyIdentifier: '2.5.29.35',
  cRLNumber: '2.5.29.20',
  reasonCode: '2.5.29.21',
};

const U = asn1.Class.UNIVERSAL;

function binary(bytes: Buffer): string {
  return bytes.toString('binary');
}

/** A positive INTEGER's content octets from hex (leading 0x00 when the top bit is set). */
function integerBytes(hex: string): string {
  let normalized = hex.replace(/^0+(?=.)/, '');
  if (normalized.length % 2) normalized = `0${normalized}`;
  let bytes = Buffer.from(normalized, 'hex');
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return binary(bytes);
}

function time(date: Date): forge.asn1.Asn1 {
  // RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
  return date.getUTCFullYear() < 2050
    ? asn1.create(U, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(date))
    : asn1.create(U, asn1.Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(date));
}

function oid(dotted: string): forge.asn1.Asn1 {
  return asn1.create(U, asn1.Type.OID, false, asn1.oidToDer(dotted).getBytes());
}

function extension(id: string, value: forge.asn1.Asn1): forge.asn1.Asn1 {
  return asn1.create(U, asn1.Type.SEQUENCE, true, [
    oid(id),
    asn1.create(U, asn1.Type.OCTETSTRING, false, asn1.toDer(value).getBytes()),
  ]);
}

function algorithm(): forge.asn1.Asn1 {
  return asn1.create(U, asn1.Type.SEQUENCE, true, [
    oid(OID.sha256WithRSAEncryption),
    asn1.create(U, asn1.Type.NULL, false, ''),
  ]);
}

/** The CA certificate's subject Name, exactly as encoded there. */
function issuerName(caCertificate: X509Certificate): forge.asn1.Asn1 {
  const tbs = (derToAsn1(caCertificate.raw).value as forge.asn1.Asn1[])[0]!;
  // TBSCertificate: [0] version, serialNumber, signature, issuer, validity, subject, …
  return (tbs.value as forge.asn1.Asn1[])[5]!;
}

export function signCrl(content: CrlContent, ca: { certPem: string; privateKey: KeyObject }): Buffer {
  const caCertificate = new X509Certificate(ca.certPem);
  const ski = subjectKeyIdentifier(caCertificate.publicKey.export({ type: 'spki', format: 'der' }));

  const revoked = content.entries.map((entry) =>
    asn1.create(U, asn1.Type.SEQUENCE, true, [
      asn1.create(U, asn1.Type.INTEGER, false, integerBytes(entry.serial)),
      time(entry.revokedAt),
      asn1.create(U, asn1.Type.SEQUENCE, true, [
        extension(
          OID.reasonCode,
          asn1.create(U, asn1.Type.ENUMERATED, false, String.fromCharCode(REVOCATION_REASONS[entry.reason])),
        ),
      ]),
    ]),
  );

  const tbsFields: forge.asn1.Asn1[] = [
    asn1.create(U, asn1.Type.INTEGER, false, String.fromCharCode(1)), // v2
    algorithm(),
    issuerName(caCertificate),
    time(content.thisUpdate),
    time(content.nextUpdate),
  ];
  // An empty revokedCertificates must be absent, not an empty SEQUENCE (RFC 5280 5.1.2.6).
  if (revoked.length > 0) tbsFields.push(asn1.create(U, asn1.Type.SEQUENCE, true, revoked));
  tbsFields.push(
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [
      asn1.create(U, asn1.Type.SEQUENCE, true, [
        extension(
          OID.authorityKeyIdentifier,
          asn1.create(U, asn1.Type.SEQUENCE, true, [asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, ski)]),
        ),
        extension(
          OID.cRLNumber,
          asn1.create(U, asn1.Type.INTEGER, false, integerBytes(content.number.toString(16))),
        ),
      ]),
    ]),
  );
  const tbs = asn1.create(U, asn1.Type.SEQUENCE, true, tbsFields);
  const tbsDer = Buffer.from(asn1.toDer(tbs).getBytes(), 'binary');
  const signature = sign('sha256', tbsDer, ca.privateKey);

  const crl = asn1.create(U, asn1.Type.SEQUENCE, true, [
    tbs,
    algorithm(),
    asn1.create(U, asn1.Type.BITSTRING, false, String.fromCharCode(0) + binary(signature)),
  ]);
  return Buffer.from(asn1.toDer(crl).getBytes(), 'binary');
}

export function crlToPem(der: Buffer): string {
  const body = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN X509 CRL-----\n${body}${body.endsWith('\n') ? '' : '\n'}-----END X509 CRL-----\n`;
}
