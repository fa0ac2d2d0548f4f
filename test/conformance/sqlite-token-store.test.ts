/** SqliteTokenStore: the TokenStore conformance suite on a real SQLite file (<dataDir>/auth.sqlite). */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SqliteTokenStore } from '../../gateway/auth/sqlite-token-store.ts';
import { runTokenStoreConformance } from './token-store.conformance.ts';

runTokenStoreConformance('sqlite', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gw-tokens-'));
  return {
    store: SqliteTokenStore.inDataDir(dir),
    another: async () => SqliteTokenStore.inDataDir(dir),
    storedText: async () =>
      ['auth.sqlite', 'auth.sqlite-wal']
        .map((name) => path.join(dir, name))
        .filter((file) => existsSync(file))
        .map((file) => readFileSync(file).toString('latin1'))
        .join('\n'),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
