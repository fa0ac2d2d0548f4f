/**
 * WalSync: nothing is acknowledged (or, on the bus, delivered) before an fdatasync of the WAL that
 * started after its commit completed; syncs are grouped; a failed sync is final.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bareAuditEvent } from '../../test/support/audit-events.ts';
import { SqliteAuditStore } from '../audit/sqlite-audit-store.ts';
import { SqliteBus } from '../bus/sqlite-bus.ts';
import type { ConsumedRecord } from '../ports/bus.ts';
import { SqliteGroupCommit } from './sqlite-group-commit.ts';
import { WalSync, WalSyncError, walSyncFor } from './wal-sync.ts';

// The stores make their WalSync themselves: their syncs are held back at node:fs.
const fsGate = vi.hoisted(() => ({ holding: false, held: [] as Array<() => void>, calls: 0 }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const fdatasync = (fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => {
    fsGate.calls++;
    const run = () => fs.fdatasync(fd, callback);
    if (fsGate.holding) fsGate.held.push(run);
    else run();
  };
  return { ...fs, fdatasync, default: { ...fs, fdatasync } };
});

const dirs: string[] = [];
afterEach(() => {
  fsGate.holding = false;
  for (const run of fsGate.held.splice(0)) run();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempFile(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'gw-wal-sync-'));
  dirs.push(dir);
  return join(dir, name);
}

/** A sync function that records what the file held when it was called, and waits to be released. */
function heldSync(file: string) {
  const reader = new Database(file, { readonly: true });
  const rows = () => reader.prepare('SELECT count(*) FROM t').pluck().get() as number;
  const calls: Array<{ rowsAtCall: number; release: () => void; fail: (error: Error) => void }> = [];
  const syncFile = (_fd: number) =>
    new Promise<void>((resolve, reject) => {
      calls.push({ rowsAtCall: rows(), release: resolve, fail: reject });
    });
  return { calls, syncFile, rows, close: () => reader.close() };
}

function groupCommitStore() {
  const file = tempFile('db.sqlite');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)');
  walSyncFor(db, file, 'NORMAL');
  const held = heldSync(file);
  const walSync = new WalSync(file, { syncFile: held.syncFile });
  const writes = new SqliteGroupCommit(db, walSync);
  const insert = db.prepare('INSERT INTO t DEFAULT VALUES');
  return {
    held,
    walSync,
    insert: () => writes.run(() => insert.run().changes),
    close: async () => {
      await walSync.close();
      held.close();
      db.close();
    },
  };
}

/** Lets every pending callback, timer of `ms` and I/O completion run. */
const turns = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await turns(5);
  }
}

function tracked<T>(promise: Promise<T>) {
  const state = { settled: false, value: undefined as T | undefined, error: undefined as unknown };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

describe('WalSync with group commit', () => {
  it('resolves a write only after a sync that started after its commit completed', async () => {
    const store = groupCommitStore();
    const first = tracked(store.insert());
    await until(() => store.held.calls.length === 1);
    // The sync began after the COMMIT: the row was in the file when it was called.
    expect(store.held.calls[0]!.rowsAtCall).toBe(1);
    await turns(20);
    expect(first.settled).toBe(false);
    store.held.calls[0]!.release();
    await until(() => first.settled);
    expect(first).toMatchObject({ settled: true, value: 1 });
    await store.close();
  });

  it('holds the writes made during a sync, commits them together after it, and resolves them after the next', async () => {
    const store = groupCommitStore();
    const first = tracked(store.insert());
    await until(() => store.held.calls.length === 1);
    const second = tracked(store.insert());
    await turns(10);
    const third = tracked(store.insert());
    await turns(10);
    // Three writes, one sync so far: the later two wait for the next, uncommitted until this one ended.
    expect(store.held.calls).toHaveLength(1);
    expect(store.held.rows()).toBe(1);
    store.held.calls[0]!.release();
    await until(() => store.held.calls.length === 2);
    expect(first.settled).toBe(true);
    expect(second.settled).toBe(false);
    expect(third.settled).toBe(false);
    expect(store.held.calls[1]!.rowsAtCall).toBe(3);
    store.held.calls[1]!.release();
    await until(() => second.settled && third.settled);
    expect(store.walSync.syncs).toBe(2);
    await store.close();
  });

  it('rejects the writes a failed sync covers, never retries it, and refuses every later write', async () => {
    const store = groupCommitStore();
    const first = tracked(store.insert());
    await until(() => store.held.calls.length === 1);
    const second = tracked(store.insert());
    await turns(10);
    store.held.calls[0]!.fail(Object.assign(new Error('EIO'), { code: 'EIO' }));
    await until(() => first.settled && second.settled);
    expect(first.error).toBeInstanceOf(WalSyncError);
    expect(second.error).toBeInstanceOf(WalSyncError);
    await expect(store.insert()).rejects.toBeInstanceOf(WalSyncError);
    expect(() => store.walSync.assertWritable()).toThrow(WalSyncError);
    expect(store.held.calls).toHaveLength(1);
    await store.close();
  });

  it('syncs the real -wal file with fdatasync', async () => {
    fsGate.calls = 0;
    const file = tempFile('db.sqlite');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    const walSync = walSyncFor(db, file, 'FULL')!;
    expect(db.pragma('synchronous', { simple: true })).toBe(1);
    const writes = new SqliteGroupCommit(db, walSync);
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)');
    await Promise.all(
      [1, 2, 3].map(() => writes.run(() => db.prepare('INSERT INTO t DEFAULT VALUES').run())),
    );
    expect(walSync.syncs).toBe(1);
    expect(fsGate.calls).toBe(1);
    await walSync.close();
    db.close();
  });

  it('leaves NORMAL unsynced and refuses a connection that is not in WAL mode', () => {
    const file = tempFile('db.sqlite');
    const db = new Database(file);
    expect(() => walSyncFor(db, file, 'FULL')).toThrow(/not WAL/);
    db.pragma('journal_mode = WAL');
    expect(walSyncFor(db, file, 'NORMAL')).toBeUndefined();
    db.close();
  });
});

describe('stores on WalSync (fdatasync held back)', () => {
  it('the bus neither acknowledges nor delivers a record before its sync completed', async () => {
    const file = tempFile('bus.sqlite');
    // The idle fallback looks every 20 ms here: it must not reveal the record before its sync either.
    const bus = new SqliteBus({ file, pollIntervalMs: 5, idleFallbackMs: 20, defaultPartitions: 1 });
    await bus.ensureTopics([{ name: 't', partitions: 1 }]);
    const received: ConsumedRecord[] = [];
    const subscription = await bus.subscribe({
      group: 'g',
      topics: ['t'],
      handler: async (record) => {
        received.push(record);
      },
    });
    fsGate.holding = true;
    const published = tracked(bus.publish([{ topic: 't', key: 'k', value: Buffer.from('v'), headers: {} }]));
    await until(() => fsGate.held.length > 0);
    // Longer than the idle fallback: the worker looked again, and the record was committed.
    await turns(300);
    const reader = new Database(file, { readonly: true });
    expect(reader.prepare('SELECT count(*) FROM records').pluck().get()).toBe(1);
    reader.close();
    expect(fsGate.held.length).toBeGreaterThan(0);
    expect(published.settled).toBe(false);
    expect(received).toHaveLength(0);
    fsGate.holding = false;
    for (const run of fsGate.held.splice(0)) run();
    await until(() => received.length > 0);
    expect(published).toMatchObject({ settled: true, error: undefined });
    expect(received.map((r) => r.value.toString())).toEqual(['v']);
    await subscription.close();
    await bus.close();
  });

  it('the bus commits the publishes made during a sync together, after it', async () => {
    const file = tempFile('bus.sqlite');
    const bus = new SqliteBus({ file, pollIntervalMs: 5, defaultPartitions: 1 });
    await bus.ensureTopics([{ name: 't', partitions: 1 }]);
    const publish = (value: string) =>
      tracked(bus.publish([{ topic: 't', key: 'k', value: Buffer.from(value), headers: {} }]));
    const reader = new Database(file, { readonly: true });
    const records = () => reader.prepare('SELECT count(*) FROM records').pluck().get() as number;
    fsGate.holding = true;
    const first = publish('1');
    await until(() => fsGate.held.length > 0);
    const later = [publish('2'), publish('3')];
    await turns(50);
    expect(records()).toBe(1);
    fsGate.holding = false;
    for (const run of fsGate.held.splice(0)) run();
    await until(() => first.settled && later.every((p) => p.settled));
    expect([first, ...later].map((p) => p.error)).toEqual([undefined, undefined, undefined]);
    expect(records()).toBe(3);
    reader.close();
    await bus.close();
  });

  it('another bus on the same file in this process does not deliver the record before its sync either', async () => {
    const file = tempFile('bus.sqlite');
    const publisher = new SqliteBus({ file, pollIntervalMs: 5, defaultPartitions: 1 });
    const consumer = new SqliteBus({ file, pollIntervalMs: 5, defaultPartitions: 1 });
    const received: string[] = [];
    const subscription = await consumer.subscribe({
      group: 'g',
      topics: ['t'],
      handler: async (record) => {
        received.push(record.value.toString());
      },
    });
    fsGate.holding = true;
    const published = tracked(
      publisher.publish([{ topic: 't', key: 'k', value: Buffer.from('v'), headers: {} }]),
    );
    await until(() => fsGate.held.length > 0);
    // The consumer's poll notices the new rowid within 5 ms; the record must stay hidden.
    await turns(300);
    expect(fsGate.held.length).toBeGreaterThan(0);
    expect(published.settled).toBe(false);
    expect(received).toEqual([]);
    fsGate.holding = false;
    for (const run of fsGate.held.splice(0)) run();
    await until(() => received.length > 0);
    expect(received).toEqual(['v']);
    await subscription.close();
    await Promise.all([publisher.close(), consumer.close()]);
  });

  it('the audit store commits the appends made during a sync together, after it', async () => {
    const store = new SqliteAuditStore({ file: tempFile('audit.sqlite') });
    fsGate.holding = true;
    const first = tracked(store.append([bareAuditEvent()]));
    await until(() => fsGate.held.length > 0);
    const later = [tracked(store.append([bareAuditEvent()])), tracked(store.append([bareAuditEvent()]))];
    await turns(50);
    // Committed now they would still wait for the next sync: they wait uncommitted instead.
    expect(await store.heads()).toMatchObject([{ chain: 'main', seq: 1 }]);
    fsGate.holding = false;
    for (const run of fsGate.held.splice(0)) run();
    await until(() => first.settled && later.every((l) => l.settled));
    expect(await store.heads()).toMatchObject([{ chain: 'main', seq: 3 }]);
    expect(fsGate.calls).toBeGreaterThanOrEqual(2);
    await store.close();
  });

  it('the audit store resolves an append only after its sync completed', async () => {
    const store = new SqliteAuditStore({ file: tempFile('audit.sqlite') });
    fsGate.holding = true;
    const appended = tracked(store.append([bareAuditEvent()]));
    await until(() => fsGate.held.length > 0);
    await turns(50);
    expect(fsGate.held.length).toBeGreaterThan(0);
    expect(appended.settled).toBe(false);
    expect(await store.heads()).toMatchObject([{ chain: 'main', seq: 1 }]);
    fsGate.holding = false;
    for (const run of fsGate.held.splice(0)) run();
    await until(() => appended.settled);
    expect(appended).toMatchObject({ settled: true, error: undefined });
    await store.close();
  });
});
