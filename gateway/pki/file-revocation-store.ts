/**
 * The revocations in <dataDir>/pki/revoked.json (revocation.ts), the embedded store: every process
 * on the data directory — the server and `gw pki revoke` beside it — reads and writes the one file.
 * Its version is the file's identity (inode, size, mtime): the CLI replaces the file by rename, so
 * every revocation changes the inode, and a poll costs one stat.
 */
import { statSync } from 'node:fs';
import type { RevocationStore, RevokeInput } from '../ports/revocation-store.ts';
import { type RevokedEntry, readRevocations, revocationFile, revokeSerial } from './revocation.ts';

export class FileRevocationStore implements RevocationStore {
  readonly kind = 'file';

  constructor(readonly pkiDir: string) {}

  revoke(input: RevokeInput): Promise<{ entry: RevokedEntry; added: boolean }> {
    return revokeSerial(this.pkiDir, input);
  }

  async version(): Promise<string> {
    return this.versionNow();
  }

  async list(): Promise<RevokedEntry[]> {
    return readRevocations(this.pkiDir);
  }

  /** version() without the promise: for a reader that must know the list before its first await. */
  versionNow(): string {
    try {
      const s = statSync(revocationFile(this.pkiDir), { bigint: true });
      return `${s.ino}:${s.size}:${s.mtimeNs}`;
    } catch {
      return 'absent';
    }
  }

  async close(): Promise<void> {}
}
