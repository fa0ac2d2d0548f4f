/**
 * The systems' pinned certificates as files, the embedded store and the layout every installation
 * already has: <pkiDir>/systems/<id>.crt is the pin, a replaced one is moved to
 * systems/replaced/<id>-<serial>.crt (where `gw pki list` shows it). Nothing else is recorded: no
 * sidecar, so a data directory written before this store existed is read as it is.
 *
 * Writes run under <pkiDir>/systems/.lock — not the PKI lock, which `gw pki issue` holds around
 * its key, certificate and PKCS#12 — and replace files by rename, so a reader sees the old pin or
 * the new one. The version is the identity (inode, size, mtime) of every systems/*.crt: each pin
 * is a rename, which always changes the inode.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type {
  PinInput,
  PinResult,
  SystemCertificate,
  SystemCertificateStore,
} from '../ports/system-certificate-store.ts';
import { assertSystemId } from './bootstrap.ts';
import { ensureDir, withLock, writeAtomic } from './files.ts';
import { certificateToPin, describeSystemCertificate, replacedPinRefusal } from './system-certificate.ts';

const PIN_FILE = /^([a-z0-9][a-z0-9._-]{0,62})\.crt$/i;

export class FileSystemCertificateStore implements SystemCertificateStore {
  readonly kind = 'file';
  readonly systemsDir: string;

  constructor(readonly pkiDir: string) {
    this.systemsDir = path.join(pkiDir, 'systems');
  }

  /** `<pkiDir>/systems/<id>.crt`, the file Pki.systemCertPath names. */
  pinPath(systemId: string): string {
    assertSystemId(systemId);
    return path.join(this.systemsDir, `${systemId}.crt`);
  }

  pin(input: PinInput): Promise<PinResult> {
    return this.write(input, false);
  }

  pinIfAbsent(input: PinInput): Promise<PinResult> {
    return this.write(input, true);
  }

  private async write(input: PinInput, onlyIfAbsent: boolean): Promise<PinResult> {
    const certificate = certificateToPin(input);
    const file = this.pinPath(input.systemId);
    ensureDir(this.systemsDir);
    return withLock(this.systemsDir, () => {
      const entry = describeSystemCertificate(input.systemId, certificate, {
        at: (input.now ?? new Date()).toISOString(),
      });
      const current = this.read(input.systemId);
      if (current && (current.serial === entry.serial || onlyIfAbsent)) {
        return { entry: current, replaced: null, added: false };
      }
      if (this.archived(input.systemId).some((old) => old.serial === entry.serial)) {
        throw replacedPinRefusal(input.systemId, entry.serial);
      }
      if (current) {
        const archive = path.join(this.systemsDir, 'replaced');
        ensureDir(archive);
        writeAtomic(path.join(archive, `${input.systemId}-${current.serial}.crt`), current.certificatePem);
      }
      writeAtomic(file, entry.certificatePem);
      return { entry: this.read(input.systemId) ?? entry, replaced: current, added: true };
    });
  }

  async current(systemId: string): Promise<SystemCertificate | null> {
    return this.read(systemId);
  }

  async pins(): Promise<SystemCertificate[]> {
    if (!existsSync(this.systemsDir)) return [];
    return readdirSync(this.systemsDir)
      .map((name) => PIN_FILE.exec(name)?.[1])
      .filter((id): id is string => id !== undefined && !id.includes('..'))
      .sort()
      .map((id) => this.read(id))
      .filter((pin): pin is SystemCertificate => pin !== null);
  }

  async history(systemId: string): Promise<SystemCertificate[]> {
    const current = this.read(systemId);
    return current ? [...this.archived(systemId), current] : this.archived(systemId);
  }

  async version(): Promise<string> {
    if (!existsSync(this.systemsDir)) return 'absent';
    const parts: string[] = [];
    for (const name of readdirSync(this.systemsDir).sort()) {
      if (!PIN_FILE.test(name)) continue;
      try {
        const s = statSync(path.join(this.systemsDir, name), { bigint: true });
        parts.push(`${name}:${s.ino}:${s.size}:${s.mtimeNs}`);
      } catch {
        // replaced between readdir and stat: the next poll sees the new file
      }
    }
    return parts.join('|');
  }

  async close(): Promise<void> {}

  private read(systemId: string): SystemCertificate | null {
    const file = this.pinPath(systemId);
    let pem: string;
    try {
      pem = readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    return this.describe(systemId, pem);
  }

  private describe(systemId: string, pem: string): SystemCertificate {
    const certificate = new X509Certificate(pem);
    return describeSystemCertificate(systemId, certificate, {
      at: new Date(certificate.validFrom).toISOString(),
    });
  }

  /** The replaced certificates, oldest first by validity start. */
  private archived(systemId: string): SystemCertificate[] {
    assertSystemId(systemId);
    const archive = path.join(this.systemsDir, 'replaced');
    const prefix = `${systemId}-`;
    if (!existsSync(archive)) return [];
    return readdirSync(archive)
      .filter((name) => name.startsWith(prefix) && /^[0-9a-f]+\.crt$/.test(name.slice(prefix.length)))
      .map((name) => this.describe(systemId, readFileSync(path.join(archive, name), 'utf8')))
      .sort((a, b) => a.notBefore.localeCompare(b.notBefore));
  }
}
