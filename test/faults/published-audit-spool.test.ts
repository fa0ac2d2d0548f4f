/**
 * The background appends of published messages' audit entries (pipeline/published-audit.ts) with
 * their spool (pipeline/audit-pending-spool.ts): the entries are in the spool before the sender is
 * answered 503, the file goes once they landed, a stop that gives them up leaves it, and the next
 * run appends what it finds there, once, however often it finds it. A real SQLite store, its append
 * failing through a wrapper; real files.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../gateway/audit/audit-log.ts';
import { SqliteAuditStore } from '../../gateway/audit/sqlite-audit-store.ts';
import { AuditPendingSpool } from '../../gateway/pipeline/audit-pending-spool.ts';
import {
  AuditPendingError,
  keyIngressEntries,
  PublishedAudit,
  type PublishedEntries,
} from '../../gateway/pipeline/published-audit.ts';

describe('audit entries of published messages, spooled while pending', () => {
  const dirs: string[] = [];
  const stores: SqliteAuditStore[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function setUp() {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'gw-published-audit-spool-'));
    dirs.push(dataDir);
    const spoolDir = path.join(dataDir, 'audit-pending');
    const store = new SqliteAuditStore({ file: path.join(dataDir, 'audit.sqlite') });
    stores.push(store);
    const append = store.append.bind(store);
    const state = { down: true, appends: 0 };
    store.append = (events, chain) => {
      state.appends++;
      return state.down ? Promise.reject(new Error('injected: store down')) : append(events, chain);
    };
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { level: 'info' },
      { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    /** One run of the gateway: a PublishedAudit over the same store and spool directory. */
    const run = (withinRequestMs = 100) =>
      new PublishedAudit({
        audit: new AuditLog(store),
        logger,
        withinRequestMs,
        backoffMs: { first: 10, max: 50 },
        spool: new AuditPendingSpool({ dir: spoolDir, logger }),
      });
    const spooled = () => (existsSync(spoolDir) ? readdirSync(spoolDir) : []);
    return { store, state, lines, run, spooled };
  }

  function batch(requestId: string, ids: string[]): PublishedEntries {
    const entries = ids.flatMap((messageId) =>
      (['received', 'accepted', 'signed', 'queued'] as const).map((kind) => ({
        kind,
        actor: 'system:sn-melde',
        messageId,
      })),
    );
    keyIngressEntries(requestId, entries);
    return { requestId, messageIds: ids, entries };
  }

  it('spools before answering 503, and removes the file once the entries landed', async () => {
    const { store, state, run, spooled } = setUp();
    const published = run();
    const error = (await published
      .retry(batch('req-1', ['m-1']), new Error('first'))
      .catch((e: unknown) => e)) as AuditPendingError;
    expect(error).toBeInstanceOf(AuditPendingError);
    // Answered only once the entries are durable.
    expect(spooled()).toEqual(['req-1.json']);
    state.down = false;
    expect(await error.landed).toBe(true);
    await published.settle(100);
    expect(spooled()).toEqual([]);
    expect(await store.query({ messageId: 'm-1', limit: 100 })).toHaveLength(4);
  });

  it('landing within the request: answered, and the file written meanwhile removed', async () => {
    const { store, state, run, spooled } = setUp();
    const published = run(2_000);
    setTimeout(() => {
      state.down = false;
    }, 50);
    await published.retry(batch('req-2', ['m-2']), new Error('first'));
    await published.settle(100);
    expect(spooled()).toEqual([]);
    expect(await store.query({ messageId: 'm-2', limit: 100 })).toHaveLength(4);
  });

  it('a stop that gives them up leaves the file; the next run appends it before anything else, once', async () => {
    const { store, state, lines, run, spooled } = setUp();
    const first = run();
    const error = (await first
      .retry(batch('req-3', ['m-3', 'm-4']), new Error('first'))
      .catch((e: unknown) => e)) as AuditPendingError;
    expect(error).toBeInstanceOf(AuditPendingError);
    await first.settle(50);
    expect(await error.landed).toBe(false);
    expect(spooled()).toEqual(['req-3.json']);
    const givenUp = lines.filter((l) => String(l.msg).startsWith('shutting down'));
    expect(givenUp.map((l) => l.messageId).sort()).toEqual(['m-3', 'm-4']);
    for (const line of givenUp) {
      expect(line.level).toBe(40);
      expect(String(line.msg)).toContain('spool');
      expect(String(line.file)).toMatch(/req-3\.json$/);
      expect(line.entries).toHaveLength(4);
    }

    // The store is back; the next run finds the file.
    state.down = false;
    const second = run();
    expect(await second.resumeSpooled()).toEqual([]);
    expect(spooled()).toEqual([]);
    expect(second.pendingCount).toBe(0);
    for (const id of ['m-3', 'm-4'])
      expect((await store.query({ messageId: id, limit: 100 })).map((e) => e.kind)).toEqual([
        'received',
        'accepted',
        'signed',
        'queued',
      ]);
  });

  it('entries that had landed before the crash are not written twice from the spool', async () => {
    const { store, state, run, spooled } = setUp();
    const first = run();
    const request = batch('req-5', ['m-5']);
    await first.retry(request, new Error('first')).catch(() => {});
    await first.settle(10);
    expect(spooled()).toEqual(['req-5.json']);
    // Its last append had committed after all (the acknowledgement was lost), and the file stayed.
    state.down = false;
    await new AuditLog(store).recordMany(request.entries);

    expect(await run().resumeSpooled()).toEqual([]);
    expect(spooled()).toEqual([]);
    expect(await store.query({ messageId: 'm-5', limit: 100 })).toHaveLength(4);
  });

  it('a store still refusing at the next start: pending in the background, the file kept until they land', async () => {
    const { store, state, run, spooled } = setUp();
    // An earlier run, stopped with two requests' entries pending.
    const earlier = run();
    await Promise.all([
      earlier.retry(batch('req-6', ['m-6']), new Error('first')).catch(() => {}),
      earlier.retry(batch('req-7', ['m-7']), new Error('first')).catch(() => {}),
    ]);
    await earlier.settle(10);
    expect(spooled().sort()).toEqual(['req-6.json', 'req-7.json']);

    const next = run();
    const appendsBefore = state.appends;
    const pending = await next.resumeSpooled();
    // One attempt at the start; once the store refused, the rest go straight to the background.
    expect(state.appends - appendsBefore).toBe(1);
    expect(pending.map((p) => p.messageIds)).toEqual([['m-6'], ['m-7']]);
    expect(next.pendingCount).toBe(2);
    expect(spooled().sort()).toEqual(['req-6.json', 'req-7.json']);

    state.down = false;
    expect(await Promise.all(pending.map((p) => p.landed))).toEqual([true, true]);
    await next.settle(100);
    expect(spooled()).toEqual([]);
    for (const id of ['m-6', 'm-7']) expect(await store.query({ messageId: id, limit: 100 })).toHaveLength(4);
  });

  it('a spool that cannot be written: answered as without one, the failure logged under the message', async () => {
    const { state, lines } = setUp();
    const dataDir = mkdtempSync(path.join(tmpdir(), 'gw-published-audit-nospool-'));
    dirs.push(dataDir);
    const logger = pino(
      { level: 'info' },
      { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    // A path under a file: nothing can be made there.
    writeFileSync(path.join(dataDir, 'blocked'), '');
    const published = new PublishedAudit({
      audit: new AuditLog(stores[0]!),
      logger,
      withinRequestMs: 50,
      backoffMs: { first: 10, max: 50 },
      spool: new AuditPendingSpool({ dir: path.join(dataDir, 'blocked', 'audit-pending'), logger }),
    });
    const error = await published.retry(batch('req-8', ['m-8']), new Error('first')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuditPendingError);
    expect(lines.some((l) => l.messageId === 'm-8' && String(l.msg).startsWith('could not spool'))).toBe(
      true,
    );
    state.down = false;
    expect(await (error as AuditPendingError).landed).toBe(true);
    await published.settle(50);
  });
});
