/**
 * Every certificate under the PKI directory with its status — what `gw pki list` and the operators'
 * GET /v1/pki/certificates show. The systems' certificates come from where they are pinned: the
 * directory's `systems/` for one host, or the shared store (PostgreSQL, systemInventory) — there a
 * replica's `systems/` is only the copy of the PKI Secret it started from, and listing it would show
 * an operator a certificate the gateway no longer accepts as the system's.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { SystemCertificate, SystemCertificateStore } from '../ports/system-certificate-store.ts';
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
  /** Relative to the PKI directory, or `pki_system_certificate` for a certificate pinned in PostgreSQL. */
  file: string;
}

/** The systems' certificates of a shared store: the pins and the certificates they replaced. */
export interface SystemInventory {
  /** Where they are kept, as InventoryEntry.file names it. */
  source: string;
  pinned: SystemCertificate[];
  replaced: SystemCertificate[];
}

/** For listCertificates: the gateway's own certificates alone (the systems' come from their pins). */
export const NO_SYSTEMS: SystemInventory = { source: '', pinned: [], replaced: [] };

/** The shared store's pins and their history; undefined for the file store (listed from `systems/`). */
export async function systemInventory(store: SystemCertificateStore): Promise<SystemInventory | undefined> {
  if (store.kind === 'file') return undefined;
  const pinned = await store.pins();
  const histories = await Promise.all(pinned.map((pin) => store.history(pin.systemId)));
  const replaced = histories.flat().filter((entry) => !pinned.some((pin) => pin.serial === entry.serial));
  return { source: 'pki_system_certificate', pinned, replaced };
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
  systems?: SystemInventory,
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
  if (systems) {
    const sorted = (entries: SystemCertificate[]) =>
      [...entries].sort(
        (a, b) => a.systemId.localeCompare(b.systemId) || a.issuedAt.localeCompare(b.issuedAt),
      );
    for (const entry of sorted(systems.pinned))
      found.push(['system', systems.source, new X509Certificate(entry.certificatePem)]);
    for (const entry of sorted(systems.replaced))
      found.push(['system (replaced)', systems.source, new X509Certificate(entry.certificatePem)]);
  } else {
    for (const [file, certificate] of certificatesIn(pkiDir, 'systems'))
      found.push(['system', file, certificate]);
    for (const [file, certificate] of certificatesIn(pkiDir, path.join('systems', 'replaced'))) {
      found.push(['system (replaced)', file, certificate]);
    }
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
