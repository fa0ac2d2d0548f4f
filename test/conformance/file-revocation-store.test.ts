/** FileRevocationStore: the RevocationStore conformance suite on a real <dataDir>/pki/revoked.json. */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FileRevocationStore } from '../../gateway/pki/file-revocation-store.ts';
import { runRevocationStoreConformance } from './revocation-store.conformance.ts';

runRevocationStoreConformance('file', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gw-revocations-'));
  // The PKI directory exists wherever a store is opened: `gw start` / `gw pki init` created it.
  const pkiDir = path.join(dir, 'pki');
  mkdirSync(pkiDir, { mode: 0o700 });
  return {
    store: new FileRevocationStore(pkiDir),
    another: async () => new FileRevocationStore(pkiDir),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
