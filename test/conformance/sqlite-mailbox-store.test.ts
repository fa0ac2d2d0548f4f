/** SqliteMailboxStore: the MailboxStore conformance suite on a temp file, and its group commit. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
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

describe('SqliteMailboxStore: upgrade of an older file', () => {
  it('adds the inbox lease column to a file made before the visibility timeout, keeping its items', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-mailbox-'));
    const file = join(dir, 'mailbox.sqlite');
    const item = inboxItem();
    // The inbox table as it was before (no leased_until), with one pending item.
    const old = new Database(file);
    old.exec(`CREATE TABLE inbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        system_id TEXT NOT NULL, message_id TEXT NOT NULL, message_type TEXT NOT NULL,
        sender_authority TEXT NOT NULL, receiver_authority TEXT NOT NULL, sender_system TEXT NOT NULL,
        digest TEXT NOT NULL, signed_document TEXT NOT NULL,
        native_content_type TEXT NOT NULL, native_body BLOB NOT NULL,
        created_at TEXT NOT NULL, acked_at TEXT,
        UNIQUE (system_id, message_id))`);
    old
      .prepare(`INSERT INTO inbox (system_id, message_id, message_type, sender_authority, receiver_authority,
        sender_system, digest, signed_document, native_content_type, native_body, created_at)
        VALUES (@systemId, @messageId, @messageType, @senderAuthority, @receiverAuthority, @senderSystem,
        @digest, @signedDocument, @nativeContentType, @nativeBody, @createdAt)`)
      .run(item);
    old.close();
    const store = new SqliteMailboxStore({ file });
    try {
      expect((await store.list(item.systemId, { limit: 10 })).items).toEqual([item]);
      const until = new Date(Date.now() + 60_000).toISOString();
      expect(await store.lease(item.systemId, item.messageId, until)).toEqual({ item, leased: true });
      expect((await store.list(item.systemId, { limit: 10 })).items).toEqual([]);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('hands the acks of a file made before the ack audit sweep to the sweep once, not again after a mark', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-mailbox-'));
    const file = join(dir, 'mailbox.sqlite');
    const [acked, pending] = [inboxItem(), inboxItem()];
    // A file as the store made it before the sweep: no table of unaudited acks.
    const before = new SqliteMailboxStore({ file });
    for (const item of [acked, pending]) await before.putIfNew(item);
    await before.ack(acked.systemId, acked.messageId);
    await before.close();
    const old = new Database(file);
    old.exec('DROP TABLE inbox_ack_unaudited');
    old.close();
    const claimAll = (store: SqliteMailboxStore) => {
      const inAMinute = new Date(Date.now() + 60_000).toISOString();
      return store.claimUnauditedAcks({
        ackedBefore: inAMinute,
        now: inAMinute,
        claimUntil: inAMinute,
        limit: 10,
      });
    };
    const store = new SqliteMailboxStore({ file });
    try {
      expect(await claimAll(store)).toEqual([acked]);
      await store.markAcksAudited([acked]);
      await store.close();
      const reopened = new SqliteMailboxStore({ file });
      expect(await claimAll(reopened)).toEqual([]);
      await reopened.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
