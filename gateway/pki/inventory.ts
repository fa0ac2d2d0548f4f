/**
 * Every certificate under the PKI directory with its status — what `gw pki list` and the operators'
 * GET /v1/pki/certificates show.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { systemIdOfCertificate } from './bootstrap.ts';
import { readText } from './files.ts';
import { PREVIOUS_SIGNING_DIR } from './rotation.ts';

export type CertificateStatus = 'valid' | 'expired' | 'not-yet-valid' | 'revoked';

export interface InventoryEntry {
  /** ca, server, gateway-client, signing, signing (previous), system, system (replaced). */
  kind: string;
  subject: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  status: CertificateStatus;
  /** The system a system certificate names, else null. */
  systemId: string | null;
  /** Relative to the PKI directory. */
  file: string;
}

function certificatesIn(dir: string, relative: string): [string, X509Certificate][] {
  const full = path.join(dir, relative);
  if (!existsSync(full)) return [];
  return readdirSync(full)
    .filter((name) => name.endsWith('.crt'))
    .sort()
    .map((name) => [path.join(relative, name), new X509Certificate(readText(path.join(full, name)))]);
}

export function listCertificates(
  pkiDir: string,
  isRevoked: (serial: string) => boolean,
  now = new Date(),
): InventoryEntry[] {
  const found: [string, string, X509Certificate][] = [];
  for (const [kind, name] of [
    ['ca', 'ca.crt'],
    ['server', 'server.crt'],
    ['gateway-client', 'gateway-client.crt'],
    ['signing', 'signing.crt'],
  ] as const) {
    const file = path.join(pkiDir, name);
    if (existsSync(file)) found.push([kind, name, new X509Certificate(readText(file))]);
  }
  for (const [file, certificate] of certificatesIn(pkiDir, PREVIOUS_SIGNING_DIR)) {
    found.push(['signing (previous)', file, certificate]);
  }
  for (const [file, certificate] of certificatesIn(pkiDir, 'systems'))
    found.push(['system', file, certificate]);
  for (const [file, certificate] of certificatesIn(pkiDir, path.join('systems', 'replaced'))) {
    found.push(['system (replaced)', file, certificate]);
  }
  return found.map(([kind, file, certificate]) => {
    const serial = certificate.serialNumber.toLowerCase();
    const notBefore = new Date(certificate.validFrom);
    const notAfter = new Date(certificate.validTo);
    const status: CertificateStatus = isRevoked(serial)
      ? 'revoked'
      : now < notBefore
        ? 'not-yet-valid'
        : now > notAfter
          ? 'expired'
          : 'valid';
    return {
      kind,
      subject: certificate.subject.replace(/\n/g, ', '),
      serial,
      notBefore: notBefore.toISOString(),
      notAfter: notAfter.toISOString(),
      status,
      systemId: kind.startsWith('system') ? systemIdOfCertificate(certificate) : null,
      file,
    };
  });
}
