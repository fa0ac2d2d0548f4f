/** SqliteOverdueCaseStore: the OverdueCaseStore conformance suite on a real SQLite file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SqliteOverdueCaseStore } from '../../gateway/deadlines/overdue-cases.ts';
import { runOverdueCaseStoreConformance } from './overdue-case-store.conformance.ts';

runOverdueCaseStoreConformance('sqlite', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gw-cases-'));
  const file = path.join(dir, 'deadlines.sqlite');
  return {
    store: new SqliteOverdueCaseStore(file),
    another: async () => new SqliteOverdueCaseStore(file),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
