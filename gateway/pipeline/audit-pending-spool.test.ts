import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditRecordInput } from '../audit/audit-log.ts';
import { AuditPendingSpool, auditPendingDirOf } from './audit-pending-spool.ts';
import { keyIngressEntries, type PublishedEntries } from './published-audit.ts';

describe('the audit-pending spool', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function setUp() {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'gw-audit-spool-'));
    dirs.push(dataDir);
    const dir = auditPendingDirOf(dataDir, 'main');
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { level: 'info' },
      { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    const unreadable: string[] = [];
    const spool = new AuditPendingSpool({ dir, logger, onUnreadable: (file) => unreadable.push(file) });
    return { dir, spool, lines, unreadable };
  }

  function batch(requestId: string, ids: string[]): PublishedEntries {
    const entries: AuditRecordInput[] = ids.flatMap((messageId) =>
      (['received', 'accepted', 'signed', 'queued'] as const).map((kind) => ({
        kind,
        actor: 'system:sn-melde',
        messageId,
        senderSystem: 'sn-melde',
        detail: kind === 'received' ? { requestId } : {},
      })),
    );
    keyIngressEntries(requestId, entries);
    return { requestId, messageIds: ids, traceId: 'trace-1', entries };
  }

  it('writes a request durably into a file of its own, readable as it was, and nothing else', async () => {
    const { dir, spool } = setUp();
    const written = batch('5b0f7c1e-0000-4000-8000-000000000001', ['m-1', 'm-2']);
    const file = await spool.write(written);
    expect(path.dirname(file)).toBe(dir);
    // Written under a temporary name and renamed: no temporary file is left.
    expect(readdirSync(dir)).toEqual([path.basename(file)]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const [read, ...more] = await spool.readAll();
    expect(more).toEqual([]);
    expect(read!.file).toBe(file);
    expect(read!.batch).toEqual(written);
  });

  it('names a request id that cannot name a file by its hash', async () => {
    const { dir, spool } = setUp();
    const file = await spool.write(batch('../../etc/passwd', ['m-3']));
    expect(path.dirname(file)).toBe(dir);
    expect(path.basename(file)).toMatch(/^[0-9a-f]{64}\.json$/);
  });

  it('an empty or absent spool reads as nothing', async () => {
    const { spool } = setUp();
    expect(await spool.readAll()).toEqual([]);
  });

  it('a failed write leaves nothing behind', async () => {
    const { dir, spool } = setUp();
    // The spool's directory cannot be made: a file is in its place.
    mkdirSync(path.dirname(dir));
    writeFileSync(dir, 'not a directory');
    await expect(spool.write(batch('req-failing', ['m-4']))).rejects.toThrow();
    expect(readFileSync(dir, 'utf8')).toBe('not a directory');
    rmSync(dir);
    // The next write makes the directory after all.
    await spool.write(batch('req-later', ['m-5']));
    expect(readdirSync(dir)).toEqual(['req-later.json']);
  });

  it('logs, counts and leaves unreadable files; reads the others, and a complete leftover .tmp', async () => {
    const { dir, spool, lines, unreadable } = setUp();
    const good = await spool.write(batch('req-good', ['m-6']));
    const content = readFileSync(good, 'utf8');
    const bad = {
      // A write cut short by a crash (never renamed).
      'req-cut.json.tmp': content.slice(0, content.length / 2),
      'req-garbage.json': 'not json at all',
      'req-shape.json': JSON.stringify({ format: 'gateway-audit-pending/1', entries: [] }),
      // Entries without their idempotency keys could be written twice: refused.
      'req-unkeyed.json': content.replaceAll('"idempotencyKey"', '"key"'),
      'req-newer.json': content.replace('gateway-audit-pending/1', 'gateway-audit-pending/2'),
    };
    for (const [name, text] of Object.entries(bad)) writeFileSync(path.join(dir, name), text);
    // Complete, fsynced before a crash that came before its rename: the request's entries.
    writeFileSync(
      path.join(dir, 'req-renamed-never.json.tmp'),
      content.replaceAll('req-good', 'req-renamed-never'),
    );
    writeFileSync(path.join(dir, 'README'), 'not the spool’s');

    const read = await spool.readAll();
    expect(read.map((r) => r.batch.requestId).sort()).toEqual(['req-good', 'req-renamed-never']);
    const names = Object.keys(bad).map((name) => path.join(dir, name));
    expect([...unreadable].sort()).toEqual([...names].sort());
    const errors = lines.filter((l) => l.level === 50);
    expect(errors.map((l) => l.file).sort()).toEqual([...names].sort());
    for (const line of errors)
      expect(String(line.msg)).toContain('unreadable file in the audit-pending spool');
    // Left where they were, for an operator.
    for (const name of Object.keys(bad)) expect(readdirSync(dir)).toContain(name);
  });

  it('removes a file', async () => {
    const { dir, spool } = setUp();
    const file = await spool.write(batch('req-landed', ['m-7']));
    await spool.remove(file);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('reads the requests oldest first', async () => {
    const { spool } = setUp();
    await spool.write(batch('zzz-first', ['m-8']));
    await new Promise((r) => setTimeout(r, 5));
    await spool.write(batch('aaa-second', ['m-9']));
    expect((await spool.readAll()).map((r) => r.batch.requestId)).toEqual(['zzz-first', 'aaa-second']);
  });
  it("keeps each chain's spool apart, inside the spool directory whatever the chain's name", async () => {
    const { spool, dir } = setUp();
    const dataDir = path.dirname(path.dirname(dir));
    const other = new AuditPendingSpool({
      dir: auditPendingDirOf(dataDir, 'gateway-1'),
      logger: pino({ level: 'silent' }),
    });
    await spool.write(batch('req-main', ['m-1']));
    await other.write(batch('req-other', ['m-2']));
    expect((await spool.readAll()).map((r) => r.batch.requestId)).toEqual(['req-main']);
    expect((await other.readAll()).map((r) => r.batch.requestId)).toEqual(['req-other']);
    for (const chain of ['.', '..', '...'])
      expect(path.dirname(auditPendingDirOf(dataDir, chain))).toBe(path.join(dataDir, 'audit-pending'));
  });
});
