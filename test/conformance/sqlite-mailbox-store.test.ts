/** SqliteMailboxStore: the MailboxStore conformance suite on a temp file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteMailboxStore } from '../../gateway/mailbox/sqlite-mailbox-store.ts';
import { runMailboxStoreConformance } from './mailbox-store.conformance.ts';

runMailboxStoreConformance('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-mailbox-'));
  const file = join(dir, 'mailbox.sqlite');
  return {
    store: new SqliteMailboxStore({ file }),
    another: async () => new SqliteMailboxStore({ file }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
