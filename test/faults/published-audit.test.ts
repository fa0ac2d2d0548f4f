/**
 * The background appends of published messages' audit entries (pipeline/published-audit.ts) where
 * the store never comes back: a stop waits its bound and no longer, gives the entries up logging each
 * in full under its message id, and the pending count (the memory bound) falls back to zero. A real
 * SQLite store, its append failing through a wrapper.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../gateway/audit/audit-log.ts';
import { SqliteAuditStore } from '../../gateway/audit/sqlite-audit-store.ts';
import {
  AuditPendingError,
  keyIngressEntries,
  PublishedAudit,
  type PublishedEntries,
} from '../../gateway/pipeline/published-audit.ts';

describe('audit entries of published messages, the store not coming back', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function setUp(maxPendingMessages?: number) {
    const dir = mkdtempSync(path.join(tmpdir(), 'gw-published-audit-'));
    dirs.push(dir);
    const store = new SqliteAuditStore({ file: path.join(dir, 'audit.sqlite') });
    const append = store.append.bind(store);
    const state = { down: true };
    store.append = (events, chain) =>
      state.down ? Promise.reject(new Error('injected: store down')) : append(events, chain);
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { level: 'info' },
      { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    const published = new PublishedAudit({
      audit: new AuditLog(store),
      logger,
      withinRequestMs: 100,
      backoffMs: { first: 10, max: 50 },
      ...(maxPendingMessages !== undefined ? { maxPendingMessages } : {}),
    });
    return { store, state, lines, published };
  }

  function batch(ids: string[]): PublishedEntries {
    const requestId = 'req-1';
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

  it('answers pending after its bound, counts the messages, and gives them up at a bounded stop', async () => {
    const { store, lines, published } = setUp(2);
    const error = await published.retry(batch(['m-1', 'm-2']), new Error('first')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuditPendingError);
    expect((error as AuditPendingError).code).toBe('GW_ERR_AUDIT_PENDING');
    expect((error as AuditPendingError).headers['retry-after']).toBeDefined();
    expect(published.pendingCount).toBe(2);
    expect(published.isFull()).toBe(true);

    const started = performance.now();
    await published.settle(200);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(await (error as AuditPendingError).landed).toBe(false);
    expect(published.pendingCount).toBe(0);
    expect(published.isFull()).toBe(false);
    // Every line names its message; the give-up carries the message's entries in full.
    for (const line of lines) expect(['m-1', 'm-2']).toContain(line.messageId);
    const givenUp = lines.filter((l) => String(l.msg).startsWith('shutting down'));
    expect(givenUp.map((l) => l.messageId).sort()).toEqual(['m-1', 'm-2']);
    for (const line of givenUp) expect(line.entries).toHaveLength(4);
    await store.close();
  });

  it('the entries landing after the answer: landed resolves true, once in the store', async () => {
    const { store, state, published } = setUp();
    const error = (await published
      .retry(batch(['m-3']), new Error('first'))
      .catch((e: unknown) => e)) as AuditPendingError;
    expect(error).toBeInstanceOf(AuditPendingError);
    state.down = false;
    expect(await error.landed).toBe(true);
    expect(await store.query({ messageId: 'm-3', limit: 100 })).toHaveLength(4);
    await published.settle(100);
    expect(await store.query({ messageId: 'm-3', limit: 100 })).toHaveLength(4);
    await store.close();
  });
});
