/** FileSystemCertificateStore: the SystemCertificateStore conformance suite on a real <dataDir>/pki/systems/. */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FileSystemCertificateStore } from '../../gateway/pki/file-system-certificate-store.ts';
import { runSystemCertificateStoreConformance } from './system-certificate-store.conformance.ts';

runSystemCertificateStoreConformance('file', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gw-system-certificates-'));
  // The PKI directory exists wherever a store is opened: `gw start` / `gw pki init` created it.
  const pkiDir = path.join(dir, 'pki');
  mkdirSync(pkiDir, { mode: 0o700 });
  return {
    store: new FileSystemCertificateStore(pkiDir),
    another: async () => new FileSystemCertificateStore(pkiDir),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
