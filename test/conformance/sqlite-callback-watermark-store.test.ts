/** SqliteCallbackWatermarkStore: the CallbackWatermarkStore conformance suite on a real SQLite file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SqliteCallbackWatermarkStore } from '../../gateway/callbacks/sqlite-callback-watermark-store.ts';
import { runCallbackWatermarkStoreConformance } from './callback-watermark-store.conformance.ts';

runCallbackWatermarkStoreConformance('sqlite', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gw-callback-marks-'));
  const file = path.join(dir, 'callbacks.sqlite');
  return {
    store: new SqliteCallbackWatermarkStore(file),
    another: async () => new SqliteCallbackWatermarkStore(file),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
