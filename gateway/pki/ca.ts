/**
 * Certificate authority primitives.
 *
 * node-forge builds the X.509 structures (names, extensions, TBSCertificate); keys are generated
 * and certificates are signed with Node's crypto (OpenSSL): forge's pure-JS RSA key generation takes
 * seconds, and forge cannot represent EC keys at all. The subject's SubjectPublicKeyInfo is therefore
 * spliced into forge's TBSCertificate as DER, which makes RSA and EC subject keys take the same path.
 *
 * Conventions:
 * - serials are 16 random bytes, positive, without a leading zero byte, so the lower-case hex we
 *   return equals `new X509Certificate(pem).serialNumber.toLowerCase()` (the form revocation uses);
 * - private keys are PKCS#8 PEM; at rest, gateway keys are encrypted PKCS#8 (AES-256-CBC, scrypt/PBKDF2
 *   as chosen by OpenSSL) — see encryptPrivateKeyPem / readEncryptedPrivateKey.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  X509Certificate,
} from 'node:crypto';
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import forge from 'node-forge';

const { asn1, pki } = forge;

/** Parts of forge's API that @types/node-forge does not declare. */
const forgeUntyped = forge as unknown as {
  pki: { getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1 };
  asn1: {
    fromDer(bytes: forge.util.ByteStringBuffer, options: { decodeBitStrings: boolean }): forge.asn1.Asn1;
  };
};

/** DER bytes to forge ASN.1, leaving BIT STRING contents opaque (forge would parse an RSA key inside). */
export function derToAsn1(der: Buffer): forge.asn1.Asn1 {
  return forgeUntyped.asn1.fromDer(forge.util.createBuffer(der.toString('binary')), {
    decodeBitStrings: false,
  });
}

export type KeyAlgorithm = 'rsa-2048' | 'rsa-3072' | 'ec-p256';
export type CertificateUsage = 'server' | 'client' | 'signing';

export interface CertificateAuthority {
  certPem: string;
  /** Plain PKCS#8 PEM (in memory only; encrypted when written). */
  keyPem: string;
  serial: string;
}

export interface IssuedCertificate {
  certPem: string;
  /** Plain PKCS#8 PEM. */
  keyPem: string;
  /** Lower-case hex, as `X509Certificate.serialNumber.toLowerCase()` prints it. */
  serial: string;
}

export interface IssueOptions {
  commonName: string;
  sanUris?: readonly string[];
  sanDns?: readonly string[];
  sanIps?: readonly string[];
  /** One usage or several (a connected system's certificate is `['client', 'signing']`). */
  usage: CertificateUsage | readonly CertificateUsage[];
  days: number;
  keyAlgorithm: KeyAlgorithm;
  /** Defaults to now; tests back-date certificates to make expired ones. */
  notBefore?: Date;
}

/** Clock skew tolerated between the gateway and its peers for freshly issued certificates. */
const BACKDATE_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

export function generateKeyPair(algorithm: KeyAlgorithm): { privateKey: KeyObject; publicKey: KeyObject } {
  switch (algorithm) {
    case 'rsa-2048':
      return generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
    case 'rsa-3072':
      return generateKeyPairSync('rsa', { modulusLength: 3072, publicExponent: 0x10001 });
    case 'ec-p256':
      return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  }
}

/** 16 random bytes; the top bit cleared (positive INTEGER) and the first byte never 0 (no leading zero). */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}

/** Creates a self-signed CA (RSA; its key signs every certificate the gateway issues). */
export function createCa(options: {
  commonName: string;
  days: number;
  keyAlgorithm?: 'rsa-2048' | 'rsa-3072';
}): CertificateAuthority {
  const { privateKey, publicKey } = generateKeyPair(options.keyAlgorithm ?? 'rsa-3072');
  const spkiDer = publicKey.export({ type: 'spki', format: 'der' });
  const serial = randomSerialHex();
  const subject = [{ shortName: 'CN', value: options.commonName }];
  const ski = subjectKeyIdentifier(spkiDer);
  const now = Date.now();
  const certDer = buildCertificate({
    serial,
    subject,
    issuer: subject,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + options.days * DAY_MS),
    spkiDer,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      skiExtension(ski),
      akiExtension(ski),
    ],
    issuerKey: privateKey,
  });
  return {
    certPem: derToPem(certDer),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    serial,
  };
}

/** Issues an end-entity certificate signed by `ca`, with a fresh key pair. */
export function issueCertificate(
  ca: { certPem: string; keyPem: string; serial?: string } | { certPem: string; privateKey: KeyObject },
  options: IssueOptions,
): IssuedCertificate {
  const caKey = 'privateKey' in ca ? ca.privateKey : createPrivateKey(ca.keyPem);
  const caCert = pki.certificateFromPem(ca.certPem);
  const caX509 = new X509Certificate(ca.certPem);
  const caSki = subjectKeyIdentifier(caX509.publicKey.export({ type: 'spki', format: 'der' }));

  const { privateKey, publicKey } = generateKeyPair(options.keyAlgorithm);
  const spkiDer = publicKey.export({ type: 'spki', format: 'der' });
  const serial = randomSerialHex();
  const usages = new Set<CertificateUsage>(
    typeof options.usage === 'string' ? [options.usage] : options.usage,
  );
  if (usages.size === 0) throw new Error('issueCertificate: at least one usage is required');
  const isRsa = options.keyAlgorithm.startsWith('rsa');

  // keyUsage: TLS needs digitalSignature (plus keyEncipherment for RSA key transport in TLS 1.2);
  // document signing needs digitalSignature and nonRepudiation (contentCommitment).
  const keyUsage: Record<string, unknown> = { name: 'keyUsage', critical: true, digitalSignature: true };
  if (isRsa && (usages.has('server') || usages.has('client'))) keyUsage.keyEncipherment = true;
  if (usages.has('signing')) keyUsage.nonRepudiation = true;

  const extensions: Record<string, unknown>[] = [
    { name: 'basicConstraints', cA: false, critical: true },
    keyUsage,
  ];
  const eku: Record<string, unknown> = { name: 'extKeyUsage' };
  if (usages.has('server')) eku.serverAuth = true;
  if (usages.has('client')) eku.clientAuth = true;
  if (usages.has('server') || usages.has('client')) extensions.push(eku);

  const altNames: { type: number; value?: string; ip?: string }[] = [];
  for (const uri of options.sanUris ?? []) altNames.push({ type: 6, value: uri });
  for (const dns of options.sanDns ?? []) altNames.push({ type: 2, value: dns });
  for (const ip of options.sanIps ?? []) {
    if (!isIP(ip)) throw new Error(`issueCertificate: not an IP address: ${ip}`);
    altNames.push({ type: 7, ip });
  }
  if (altNames.length > 0) extensions.push({ name: 'subjectAltName', altNames });
  extensions.push(skiExtension(subjectKeyIdentifier(spkiDer)), akiExtension(caSki));

  const start = options.notBefore?.getTime() ?? Date.now() - BACKDATE_MS;
  const certDer = buildCertificate({
    serial,
    subject: [{ shortName: 'CN', value: options.commonName }],
    issuer: caCert.subject.attributes,
    notBefore: new Date(start),
    notAfter: new Date(start + options.days * DAY_MS),
    spkiDer,
    extensions,
    issuerKey: caKey,
  });
  return {
    certPem: derToPem(certDer),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    serial,
  };
}

/** Re-exports a private key as ENCRYPTED PKCS#8 PEM (AES-256-CBC). */
export function encryptPrivateKeyPem(key: string | KeyObject, passphrase: string): string {
  const keyObject = typeof key === 'string' ? createPrivateKey(key) : key;
  return keyObject.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }) as string;
}

/** Loads an ENCRYPTED PKCS#8 PEM; throws when the passphrase is wrong. */
export function decryptPrivateKey(encryptedPem: string, passphrase: string): KeyObject {
  return createPrivateKey({ key: encryptedPem, format: 'pem', passphrase });
}

/** Decrypts to plain PKCS#8 PEM (for APIs that take PEM text, e.g. `tls.createSecureContext`). */
export function decryptPrivateKeyPem(encryptedPem: string, passphrase: string): string {
  return decryptPrivateKey(encryptedPem, passphrase).export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** Writes a private key as ENCRYPTED PKCS#8 PEM, mode 0600 (atomically: temporary file + rename). */
export function writeEncryptedPrivateKey(file: string, key: string | KeyObject, passphrase: string): void {
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temporary, encryptPrivateKeyPem(key, passphrase), { mode: 0o600, flag: 'wx' });
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
}

/** Reads an ENCRYPTED PKCS#8 PEM file; throws when the passphrase is wrong or the key is not encrypted. */
export function readEncryptedPrivateKey(file: string, passphrase: string): KeyObject {
  const pem = readFileSync(file, 'utf8');
  if (!isEncryptedPkcs8Pem(pem)) throw new Error(`${file} is not an encrypted PKCS#8 key`);
  return decryptPrivateKey(pem, passphrase);
}

/** True when `pem` is an encrypted PKCS#8 key (the only form gateway keys may have at rest). */
export function isEncryptedPkcs8Pem(pem: string): boolean {
  return pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----');
}

/** Public key of a PEM certificate as a Node KeyObject. */
export function certificatePublicKey(certPem: string): KeyObject {
  return createPublicKey(certPem);
}

// --- internals -----------------------------------------------------------------------------------

interface BuildInput {
  serial: string;
  subject: forge.pki.CertificateField[];
  issuer: forge.pki.CertificateField[];
  notBefore: Date;
  notAfter: Date;
  spkiDer: Buffer;
  extensions: Record<string, unknown>[];
  issuerKey: KeyObject;
}

/** A throwaway RSA public key so forge can render a TBSCertificate; its SPKI is replaced below. */
const PLACEHOLDER_PUBLIC_KEY = pki.setRsaPublicKey(
  new forge.jsbn.BigInteger('3'),
  new forge.jsbn.BigInteger('3'),
);

function buildCertificate(input: BuildInput): Buffer {
  if (input.issuerKey.asymmetricKeyType !== 'rsa') throw new Error('the CA key must be RSA');
  const cert = pki.createCertificate();
  cert.serialNumber = input.serial;
  cert.validity.notBefore = input.notBefore;
  cert.validity.notAfter = input.notAfter;
  cert.setSubject(input.subject);
  cert.setIssuer(input.issuer);
  cert.publicKey = PLACEHOLDER_PUBLIC_KEY;
  cert.setExtensions(input.extensions);
  cert.siginfo.algorithmOid = pki.oids.sha256WithRSAEncryption!;

  const tbs = forgeUntyped.pki.getTBSCertificate(cert);
  // TBSCertificate ::= SEQUENCE { [0] version, serial, signature, issuer, validity, subject, spki, ... }
  const tbsFields = tbs.value as forge.asn1.Asn1[];
  tbsFields[6] = derToAsn1(input.spkiDer);
  const tbsDer = Buffer.from(asn1.toDer(tbs).getBytes(), 'binary');
  const signature = sign('sha256', tbsDer, input.issuerKey);

  const certificate = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    tbs,
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
      asn1.create(
        asn1.Class.UNIVERSAL,
        asn1.Type.OID,
        false,
        asn1.oidToDer(pki.oids.sha256WithRSAEncryption!).getBytes(),
      ),
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, ''),
    ]),
    asn1.create(
      asn1.Class.UNIVERSAL,
      asn1.Type.BITSTRING,
      false,
      String.fromCharCode(0) + signature.toString('binary'),
    ),
  ]);
  return Buffer.from(asn1.toDer(certificate).getBytes(), 'binary');
}

/** RFC 5280 4.2.1.2 method (1): SHA-1 over the subjectPublicKey BIT STRING (without the unused-bits byte). */
export function subjectKeyIdentifier(spkiDer: Buffer): string {
  const spki = derToAsn1(spkiDer);
  const bitString = (spki.value as forge.asn1.Asn1[])[1]!;
  const keyBytes = Buffer.from((bitString.value as string).slice(1), 'binary');
  return createHash('sha1').update(keyBytes).digest('binary');
}

function skiExtension(ski: string): Record<string, unknown> {
  return {
    name: 'subjectKeyIdentifier',
    value: asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, ski),
  };
}

function akiExtension(ski: string): Record<string, unknown> {
  return {
    name: 'authorityKeyIdentifier',
    value: asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
      asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, ski),
    ]),
  };
}

function derToPem(der: Buffer): string {
  const body = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${body}${body.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`;
}
