/**
 * The gateway's PKI on disk, created on first start and reused afterwards.
 *
 * <dir>/                     (mode 0700)
 *   ca.crt, ca.key           the gateway CA; issues every certificate below
 *   server.crt/.key          TLS server certificate (SAN: the configured host names and IPs)
 *   signing.crt/.key         the gateway's document-signing (sealing) certificate
 *   gateway-client.crt/.key  the gateway's client certificate for pushing to receivers over mTLS
 *   passphrase               only when no passphrase is configured: a random one, generated once
 *   systems/<id>.crt/.key    one client+signing certificate per connected system (plain PKCS#8:
 *                            it is that system's own key, to be handed over to it); `gw pki issue`
 *                            adds <id>.p12 and moves a replaced certificate to systems/replaced/
 *   signing-previous/<serial>.crt  signing certificates replaced by `gw pki rotate` (seals made
 *                            with them stay verifiable; their keys are gone)
 *   revoked.json             revoked serials (revocation.ts); the CRL is derived from it
 *
 * Every file is mode 0600, every directory 0700. Gateway keys (*.key at the top level) are
 * ENCRYPTED PKCS#8 (AES-256-CBC) under the passphrase; they are decrypted in memory only.
 *
 * Files are written atomically (temporary file + rename; a key before its certificate, so a
 * certificate on disk always has its key). Creation runs under a lock directory so that several
 * gateway processes starting at once on one data directory do not create two CAs.
 */
import { type KeyObject, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { GatewayError } from '../errors/catalogue.ts';
import type { SigningAlgorithm } from '../signing/signer.ts';
import {
  type CertificateUsage,
  createCa,
  decryptPrivateKey,
  encryptPrivateKeyPem,
  type IssuedCertificate,
  type IssueOptions,
  issueCertificate,
  type KeyAlgorithm,
} from './ca.ts';
import { type CrlContent, signCrl } from './crl.ts';
import { ensureDir, readText as read, withLock, writeAtomic } from './files.ts';

export type { SigningAlgorithm };

export interface PkiOptions {
  /** <dataDir>/pki */
  dir: string;
  /** Connected system ids; a certificate is issued for each one that has none yet. */
  systems: string[];
  /** Encrypts the gateway's keys at rest. Unset: a random one is generated into <dir>/passphrase. */
  passphrase?: string | undefined;
  signingAlgorithm: SigningAlgorithm;
  rsaBits: 2048 | 3072;
  /** DNS names and IP addresses for the TLS server certificate, e.g. localhost, 127.0.0.1. */
  serverNames: string[];
}

export interface Pki {
  dir: string;
  caCertPem: string;
  caX509: X509Certificate;
  /** Decrypted in memory for the TLS server. */
  server: { certPem: string; keyPem: string };
  signing: { certPem: string; privateKey: KeyObject; algorithm: SigningAlgorithm };
  /** The gateway's client identity when it pushes to receivers over mTLS. */
  gatewayClient: { certPem: string; keyPem: string };
  /**
   * `<dir>/systems/<id>.crt`: the system's pin in the embedded mode; with PostgreSQL this data
   * directory's copy, which may be older than the pin the replicas share
   * (file-system-certificate-store.ts, pg-system-certificate-store.ts).
   */
  systemCertPath(id: string): string;
  systemKeyPath(id: string): string;
  /**
   * The connected system a TLS client certificate names — its SAN URI
   * `urn:laender-gateway:system:<id>`, else its CN — provided the certificate was issued by the
   * gateway CA (signature verified), is within its validity period, is not a CA and allows client
   * authentication. Null otherwise (no certificate, foreign CA, expired, not yet valid).
   */
  systemOfClientCertificate(
    peer: { raw?: Buffer } | null | undefined,
  ): { systemId: string; serial: string } | null;
  /** Issues certificates with the CA key, which stays in this closure (never exported or logged). */
  issue(options: IssueOptions): IssuedCertificate;
  /** A DER CRL signed by the CA (crl.ts). */
  signCrl(content: CrlContent): Buffer;
  /** Reads and decrypts a gateway key (`signing.key`, …) under dir with the configured passphrase. */
  readGatewayKey(name: string): KeyObject;
  /** Writes a gateway key (encrypted) and then its certificate, both atomically. */
  writeGatewayPair(base: string, issued: { certPem: string; keyPem: string }): void;
  /** Operator-facing warnings (e.g. the passphrase is kept next to the keys). Never contain secrets. */
  warnings: string[];
  /** Files created by this call (relative to dir), for logging. */
  created: string[];
}

export const SYSTEM_URI_PREFIX = 'urn:laender-gateway:system:';
export const SYSTEM_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/i;

const CA_DAYS = 3650;
const SERVER_DAYS = 397;
export const LEAF_DAYS = 730;
const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

export function systemUri(id: string): string {
  return `${SYSTEM_URI_PREFIX}${id}`;
}

export function assertSystemId(id: string): void {
  // The id becomes a file name and a certificate name: no path separators, no dot-dot.
  if (!SYSTEM_ID_PATTERN.test(id) || id.includes('..')) {
    throw new GatewayError('GW_ERR_CONFIG_INVALID', `pki: invalid system id ${JSON.stringify(id)}`);
  }
}

export function keyAlgorithmFor(signingAlgorithm: SigningAlgorithm, rsaBits: 2048 | 3072): KeyAlgorithm {
  return signingAlgorithm === 'ecdsa-p256-sha256' ? 'ec-p256' : rsaBits === 3072 ? 'rsa-3072' : 'rsa-2048';
}

export function isWithinValidity(certificate: X509Certificate, now = new Date()): boolean {
  return now >= new Date(certificate.validFrom) && now <= new Date(certificate.validTo);
}

function coversNames(certificate: X509Certificate, names: string[]): boolean {
  return names.every((name) =>
    isIP(name) ? certificate.checkIP(name) !== undefined : certificate.checkHost(name) !== undefined,
  );
}

export function signingAlgorithmOfKey(key: KeyObject): SigningAlgorithm {
  return key.asymmetricKeyType === 'ec' ? 'ecdsa-p256-sha256' : 'rsa-sha256';
}

/** The system id named by SAN URI (preferred) or CN, or null. */
export function systemIdOfCertificate(certificate: X509Certificate): string | null {
  for (const entry of (certificate.subjectAltName ?? '').split(', ')) {
    if (entry.startsWith(`URI:${SYSTEM_URI_PREFIX}`)) {
      const id = entry.slice(4 + SYSTEM_URI_PREFIX.length);
      return SYSTEM_ID_PATTERN.test(id) ? id : null;
    }
  }
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(certificate.subject)?.[1];
  return cn && SYSTEM_ID_PATTERN.test(cn) ? cn : null;
}

export async function ensurePki(options: PkiOptions): Promise<Pki> {
  const dir = path.resolve(options.dir);
  const systemsDir = path.join(dir, 'systems');
  for (const id of options.systems) assertSystemId(id);
  ensureDir(dir);
  ensureDir(systemsDir);

  return withLock(dir, () => {
    const warnings: string[] = [];
    const created: string[] = [];
    const file = (name: string) => path.join(dir, name);

    // --- passphrase -------------------------------------------------------------------------------
    let passphrase = options.passphrase;
    if (!passphrase) {
      const passphraseFile = file('passphrase');
      if (existsSync(passphraseFile)) {
        passphrase = read(passphraseFile).trim();
        warnings.push(
          `pki: no keyPassphrase configured; the gateway keys are encrypted with the passphrase kept in ${passphraseFile} — configure GATEWAY_KEY_PASSPHRASE (a secret) for production`,
        );
      } else {
        passphrase = randomBytes(32).toString('base64url');
        writeAtomic(passphraseFile, `${passphrase}\n`);
        created.push('passphrase');
        warnings.push(
          `pki: no keyPassphrase configured; generated a random one into ${passphraseFile} (mode 0600) — configure GATEWAY_KEY_PASSPHRASE (a secret) for production`,
        );
      }
    }
    const secret = passphrase;

    const loadGatewayKey = (name: string): KeyObject => {
      const pem = read(file(name));
      try {
        return decryptPrivateKey(pem, secret);
      } catch (error) {
        throw new GatewayError(
          'GW_ERR_CONFIG_INVALID',
          `pki: cannot decrypt ${file(name)} — wrong or changed key passphrase`,
          { cause: error },
        );
      }
    };
    const writeGatewayPair = (base: string, issued: { certPem: string; keyPem: string }) => {
      writeAtomic(file(`${base}.key`), encryptPrivateKeyPem(issued.keyPem, secret));
      writeAtomic(file(`${base}.crt`), issued.certPem);
      created.push(`${base}.key`, `${base}.crt`);
    };

    // --- CA ---------------------------------------------------------------------------------------
    if (!existsSync(file('ca.crt'))) {
      const ca = createCa({ commonName: 'Laender-Gateway CA', days: CA_DAYS, keyAlgorithm: 'rsa-3072' });
      writeGatewayPair('ca', ca);
    }
    const caCertPem = read(file('ca.crt'));
    const caX509 = new X509Certificate(caCertPem);
    const caKey = loadGatewayKey('ca.key');
    const ca = { certPem: caCertPem, privateKey: caKey };
    if (!isWithinValidity(caX509)) {
      warnings.push(`pki: the gateway CA is outside its validity period (${caX509.validTo})`);
    }

    // --- server (reissued when it does not cover the configured names or has expired) --------------
    const serverIps = options.serverNames.filter((name) => isIP(name));
    const serverDns = options.serverNames.filter((name) => !isIP(name));
    const serverCurrent = existsSync(file('server.crt'))
      ? new X509Certificate(read(file('server.crt')))
      : null;
    if (
      !serverCurrent ||
      !isWithinValidity(serverCurrent) ||
      !coversNames(serverCurrent, options.serverNames)
    ) {
      writeGatewayPair(
        'server',
        issueCertificate(ca, {
          commonName: serverDns[0] ?? serverIps[0] ?? 'laender-gateway',
          sanDns: serverDns,
          sanIps: serverIps,
          usage: 'server',
          days: SERVER_DAYS,
          keyAlgorithm: 'ec-p256',
        }),
      );
    }

    // --- gateway client (reissued when expired) ----------------------------------------------------
    const clientCurrent = existsSync(file('gateway-client.crt'))
      ? new X509Certificate(read(file('gateway-client.crt')))
      : null;
    if (!clientCurrent || !isWithinValidity(clientCurrent)) {
      writeGatewayPair(
        'gateway-client',
        issueCertificate(ca, {
          commonName: 'laender-gateway',
          sanUris: ['urn:laender-gateway:gateway'],
          usage: 'client',
          days: LEAF_DAYS,
          keyAlgorithm: 'ec-p256',
        }),
      );
    }

    // --- signing (created once; rotation is an explicit operator action) ---------------------------
    if (!existsSync(file('signing.crt'))) {
      writeGatewayPair(
        'signing',
        issueCertificate(ca, {
          commonName: 'laender-gateway signing',
          sanUris: ['urn:laender-gateway:gateway:signing'],
          usage: 'signing',
          days: LEAF_DAYS,
          keyAlgorithm: keyAlgorithmFor(options.signingAlgorithm, options.rsaBits),
        }),
      );
    }
    const signingCertPem = read(file('signing.crt'));
    const signingKey = loadGatewayKey('signing.key');
    const signingAlgorithm = signingAlgorithmOfKey(signingKey);
    if (signingAlgorithm !== options.signingAlgorithm) {
      warnings.push(
        `pki: the existing signing key is ${signingAlgorithm}, the configuration asks for ${options.signingAlgorithm}; keeping the existing key until it is rotated`,
      );
    }

    // --- systems (only missing ones are issued) ---------------------------------------------------
    for (const id of options.systems) {
      const certPath = path.join(systemsDir, `${id}.crt`);
      if (existsSync(certPath)) continue;
      const issued = issueCertificate(ca, {
        commonName: id,
        sanUris: [systemUri(id)],
        usage: ['client', 'signing'] satisfies CertificateUsage[],
        days: LEAF_DAYS,
        keyAlgorithm: keyAlgorithmFor(options.signingAlgorithm, options.rsaBits),
      });
      writeAtomic(path.join(systemsDir, `${id}.key`), issued.keyPem);
      writeAtomic(certPath, issued.certPem);
      created.push(`systems/${id}.key`, `systems/${id}.crt`);
    }

    const pem = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }) as string;
    const caPublicKey = caX509.publicKey;

    const systemOfClientCertificate: Pki['systemOfClientCertificate'] = (peer) => {
      const raw = peer?.raw;
      if (!raw || raw.length === 0) return null;
      let certificate: X509Certificate;
      try {
        certificate = new X509Certificate(raw);
      } catch {
        return null;
      }
      if (!certificate.checkIssued(caX509) || !certificate.verify(caPublicKey)) return null;
      if (certificate.ca || !isWithinValidity(certificate)) return null;
      const extendedUsage = certificate.keyUsage; // Node: the extended key usage OIDs, if present
      if (extendedUsage && !extendedUsage.includes(OID_CLIENT_AUTH)) return null;
      const systemId = systemIdOfCertificate(certificate);
      if (!systemId) return null;
      return { systemId, serial: certificate.serialNumber.toLowerCase() };
    };

    return {
      dir,
      caCertPem,
      caX509,
      server: { certPem: read(file('server.crt')), keyPem: pem(loadGatewayKey('server.key')) },
      signing: { certPem: signingCertPem, privateKey: signingKey, algorithm: signingAlgorithm },
      gatewayClient: {
        certPem: read(file('gateway-client.crt')),
        keyPem: pem(loadGatewayKey('gateway-client.key')),
      },
      systemCertPath: (id: string) => {
        assertSystemId(id);
        return path.join(systemsDir, `${id}.crt`);
      },
      systemKeyPath: (id: string) => {
        assertSystemId(id);
        return path.join(systemsDir, `${id}.key`);
      },
      systemOfClientCertificate,
      issue: (issueOptions) => issueCertificate(ca, issueOptions),
      signCrl: (content) => signCrl(content, ca),
      readGatewayKey: loadGatewayKey,
      writeGatewayPair,
      warnings,
      created,
    };
  });
}
