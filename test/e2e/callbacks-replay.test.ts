import { rmSync } from 'node:fs';
import path from 'node:path';
import { SqliteCallbackWatermarkStore } from '../../gateway/callbacks/sqlite-callback-watermark-store.ts';
import { describeCallbackReplay } from './callbacks-replay-scenario.ts';

const file = (dataDir: string) => path.join(dataDir, 'callbacks.sqlite');

describeCallbackReplay('embedded stores', {
  kind: 'sqlite',
  env: () => ({}),
  open: async (dataDir) => new SqliteCallbackWatermarkStore(file(dataDir)),
  forget: async (dataDir) => {
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${file(dataDir)}${suffix}`, { force: true });
  },
  cleanup: async () => {},
});
