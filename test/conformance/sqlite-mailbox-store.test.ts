/** SqliteMailboxStore: the MailboxStore conformance suite on a temp file, and its group commit. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SqliteGroupCommit } from '../../gateway/db/sqlite-group-commit.ts';
import { SqliteMailboxStore } from '../../gateway/mailbox/sqlite-mailbox-store.ts';
import { inboxItem, runMailboxStoreConformance } from './mailbox-store.conformance.ts';

runMailboxStoreConformance('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-mailbox-'));
  const file = join(dir, 'mailbox.sqlite');
  return {
    store: new SqliteMailboxStore({ file }),
    another: async () => new SqliteMailboxStore({ file }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe('SqliteMailboxStore: group commit', () => {
  it('writes issued in one turn share one transaction; a failing write rejects only its caller', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-mailbox-'));
    const file = join(dir, 'mailbox.sqlite');
    const store = new SqliteMailboxStore({ file });
    try {
      const commits = () => (store as unknown as { writes: SqliteGroupCommit }).writes.commits;
      const before = commits();
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => store.recordPushed('st-melde', `g-${i}`)),
      );
      expect(results.every(Boolean)).toBe(true);
      expect(commits() - before).toBe(1);
      // A broken item (NOT NULL violated) fails alone; the good ones of its batch commit.
      const good = inboxItem();
      const outcomes = await Promise.allSettled([
        store.putIfNew(good),
        store.putIfNew({ ...inboxItem(), digest: null as unknown as string }),
        store.recordPushed('st-melde', 'after-broken'),
      ]);
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      const other = new SqliteMailboxStore({ file });
      expect(await other.get(good.systemId, good.messageId)).toEqual(good);
      expect(await other.wasDelivered('st-melde', 'after-broken')).toBe(true);
      await other.close();
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
