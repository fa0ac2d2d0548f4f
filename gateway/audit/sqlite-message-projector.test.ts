/**
 * The SQLite projector's write economy: a row a run wrote is not read back by the next run, an
 * existing row is updated only in the columns that changed — and neither shortcut may cost
 * correctness when a settled column does change or another process projected in between.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEventInput, AuditEventKind } from '../ports/audit-store.ts';
import { SqliteAuditStore } from './sqlite-audit-store.ts';

const dirs: string[] = [];
function tempFile(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sqlite-projector-'));
  dirs.push(dir);
  return path.join(dir, 'audit.db');
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Summary row reads and writes on every better-sqlite3 connection, by statement. */
const counted = { reads: 0, inserts: 0, updates: 0, widestUpdates: 0 };
let restore: () => void = () => {};
beforeEach(() => {
  for (const k of Object.keys(counted) as Array<keyof typeof counted>) counted[k] = 0;
  const probe = new Database(':memory:');
  type Method = (this: { source: string }, ...args: unknown[]) => unknown;
  const proto = Object.getPrototypeOf(probe.prepare('SELECT 1')) as { get: Method; run: Method };
  probe.close();
  const { get, run } = proto;
  proto.get = function (...args) {
    if (this.source.startsWith('SELECT message_id AS messageId')) counted.reads++;
    return get.apply(this, args);
  };
  proto.run = function (...args) {
    const sql = this.source.trimStart();
    if (sql.startsWith('INSERT INTO audit_messages')) counted.inserts++;
    if (sql.startsWith('UPDATE audit_messages')) {
      counted.updates++;
      if (sql.includes('first_time')) counted.widestUpdates++;
    }
    return run.apply(this, args);
  };
  restore = () => {
    proto.get = get;
    proto.run = run;
  };
});
afterEach(() => restore());

const at = (second: number) => new Date(Date.UTC(2026, 0, 5, 9, 0, second)).toISOString();
function event(messageId: string, kind: AuditEventKind, second: number, known = true): AuditEventInput {
  return {
    time: at(second),
    kind,
    actor: 'gateway',
    messageId,
    sender: 'ags:14612000',
    receiver: 'ags:15003000',
    senderSystem: 'sn-melde',
    receiverSystem: 'st-melde',
    messageType: known ? 'xmeld:25.11:rueckmeldung.anmeldunginland.0201' : null,
    digest: known ? 'ab'.repeat(32) : null,
    detail: {},
  };
}
// No background runs: the searches' catch-ups are the only ones.
const open = (file: string) => new SqliteAuditStore({ file, sync: 'NORMAL', projectionDelayMs: 1e9 });
const row = async (store: SqliteAuditStore, messageId: string) =>
  (await store.searchMessages({ messageId, limit: 10 })).items[0];

describe('SqliteMessageProjector', () => {
  it('updates the rows its last run wrote without reading them back, and only in the changed columns', async () => {
    const store = open(tempFile());
    try {
      const ids = Array.from({ length: 10 }, (_, i) => `m${i}`);
      await store.append(ids.flatMap((id) => [event(id, 'received', 1), event(id, 'accepted', 2)]));
      await row(store, 'm0'); // first run: new rows
      expect(counted).toMatchObject({ reads: 10, inserts: 10, updates: 0 });

      await store.append(ids.flatMap((id) => [event(id, 'queued', 3), event(id, 'delivered', 4)]));
      await row(store, 'm0');
      // Before: every row read again and written whole (INSERT ... ON CONFLICT DO UPDATE of all columns).
      expect(counted).toMatchObject({ reads: 10, inserts: 10, updates: 10, widestUpdates: 0 });
      for (const id of ids) {
        expect(await row(store, id)).toMatchObject({
          firstTime: at(1),
          lastTime: at(4),
          status: 'delivered',
          events: 4,
        });
      }
    } finally {
      await store.close();
    }
  });

  it('writes a settled column that a later event does change (an earlier time, a first message type)', async () => {
    const store = open(tempFile());
    try {
      await store.append([event('m', 'received', 5, false)]);
      await row(store, 'm');
      // From another chain: earlier than what was projected, and the first to know the type.
      await store.append([event('m', 'accepted', 3)], 'delivery.st-melde.0');
      expect(await row(store, 'm')).toMatchObject({
        firstTime: at(3),
        lastTime: at(5),
        messageType: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
        digest: 'ab'.repeat(32),
        events: 2,
      });
      expect(counted.widestUpdates).toBe(1);
      // The by-time index follows the new first time.
      const byTime = await store.searchMessages({ from: at(3), to: at(4), limit: 10 });
      expect(byTime.items.map((m) => m.messageId)).toEqual(['m']);
    } finally {
      await store.close();
    }
  });

  it('reads a row back when another process projected since its last run', async () => {
    const file = tempFile();
    const here = open(file);
    const there = open(file);
    try {
      await here.append([event('m', 'received', 1)]);
      expect(await row(here, 'm')).toMatchObject({ events: 1 });
      await there.append([event('m', 'accepted', 2)]);
      expect(await row(there, 'm')).toMatchObject({ events: 2, status: 'accepted' });
      // `here` still has the row as it wrote it (events 1); the watermarks show it is stale.
      await here.append([event('m', 'queued', 3)]);
      expect(await row(here, 'm')).toMatchObject({ events: 3, status: 'queued', lastTime: at(3) });
    } finally {
      await there.close();
      await here.close();
    }
  });
});
