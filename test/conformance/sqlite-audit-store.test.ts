/**
 * SqliteAuditStore: the conformance suite, tamper detection from an export, the append-only
 * triggers, two processes appending to one file, and the AuditLog wrapper.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../gateway/audit/audit-log.ts';
import {
  canonicalEntryString,
  canonicalJson,
  chainEntry,
  entryHash,
  GENESIS_HASH,
  verifyChain,
} from '../../gateway/audit/hash-chain.ts';
import { SqliteAuditStore } from '../../gateway/audit/sqlite-audit-store.ts';
import type { AuditEntry, AuditEventInput, ChainHead } from '../../gateway/ports/audit-store.ts';
import { AUDIT_EVENT_KINDS } from '../../gateway/ports/audit-store.ts';
import { bareAuditEvent } from '../support/audit-events.ts';
import { auditEvent, runAuditStoreConformance } from './audit-store.conformance.ts';

function tempFile(): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'gw-audit-'));
  return { dir, file: join(dir, 'audit.db') };
}

runAuditStoreConformance('sqlite', async () => {
  const { dir, file } = tempFile();
  return {
    store: new SqliteAuditStore({ file }),
    reopen: async () => new SqliteAuditStore({ file }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe('hash chain', () => {
  it('serialises an entry as RFC 8785 canonical JSON', () => {
    const entry = {
      chain: 'main',
      seq: 1,
      ...bareAuditEvent({
        time: '2025-01-01T00:00:00.000Z',
        kind: 'received',
        actor: 'gateway',
        messageId: 'm1',
        detail: { b: [true, null], a: 1, nested: { y: -0, x: 1e21, ä: 'line\nbreak' } },
      }),
      prevHash: GENESIS_HASH,
    };
    expect(canonicalEntryString(entry)).toBe(
      `{"actor":"gateway","chain":"main","detail":{"a":1,"b":[true,null],"nested":{"x":1e+21,"y":0,"ä":"line\\nbreak"}},"digest":null,"kind":"received","messageId":"m1","messageType":null,"prevHash":"${GENESIS_HASH}","receiver":null,"receiverSystem":null,"sender":null,"senderSystem":null,"seq":1,"time":"2025-01-01T00:00:00.000Z"}`,
    );
    // The hand-written top level equals generic canonical JSON of the same object.
    expect(canonicalEntryString(entry)).toBe(canonicalJson(entry));
    expect(entryHash(entry)).toMatch(/^[0-9a-f]{64}$/);
    expect(
      entryHash({ ...entry, detail: { nested: { x: 1e21, ä: 'line\nbreak', y: 0 }, a: 1, b: [true, null] } }),
    ).toBe(entryHash(entry));
  });

  it('writes strings exactly as JSON.stringify does, and the entry fast path matches generic JCS', () => {
    const utf16 = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) });
    fc.assert(
      fc.property(utf16, (text) => {
        expect(canonicalJson(text)).toBe(JSON.stringify(text));
        expect(canonicalJson({ [text]: text })).toBe(JSON.stringify({ [text]: text }));
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(chainArb, (entries) => {
        for (const { hash, ...rest } of entries) expect(canonicalEntryString(rest)).toBe(canonicalJson(rest));
      }),
      { numRuns: 50 },
    );
  });

  it('refuses values that are not JSON', () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(TypeError);
    expect(() => canonicalJson({ a: undefined })).toThrow(TypeError);
    expect(() => canonicalJson({ a: new Date(0) })).toThrow(TypeError);
    expect(() => canonicalJson({ a: 1n })).toThrow(TypeError);
  });

  it('reports a malformed entry instead of throwing', () => {
    const [entry] = buildChain([[auditEvent(), 'main']]);
    const bad = { ...entry!, detail: 'oops' } as unknown as AuditEntry;
    expect(verifyChain([bad])).toMatchObject({
      ok: false,
      firstBadSeq: 1,
      chain: 'main',
      reason: 'malformed',
    });
  });

  it('verifies a slice only from its anchor, and detects truncation only against a trusted head', () => {
    const entries = buildChain(Array.from({ length: 10 }, () => [auditEvent(), 'main'] as const));
    const slice = entries.slice(5);
    expect(verifyChain(slice)).toMatchObject({ ok: false, firstBadSeq: 1, reason: 'seq-mismatch' });
    const anchor: ChainHead = { chain: 'main', seq: 5, hash: entries[4]!.hash };
    expect(verifyChain(slice, { from: [anchor] })).toMatchObject({ ok: true, count: 5 });
    expect(verifyChain(slice, { from: [{ ...anchor, hash: entries[3]!.hash }] })).toMatchObject({
      ok: false,
      firstBadSeq: 6,
      reason: 'prev-hash-mismatch',
    });

    const head: ChainHead = { chain: 'main', seq: 10, hash: entries[9]!.hash };
    const truncated = entries.slice(0, 8);
    expect(verifyChain(truncated).ok).toBe(true); // undetectable from the entries alone
    expect(verifyChain(truncated, { to: [head] })).toMatchObject({
      ok: false,
      firstBadSeq: 9,
      reason: 'truncated',
    });
    expect(verifyChain(entries, { to: [head] }).ok).toBe(true);
    expect(verifyChain(entries, { to: [{ ...head, hash: entries[8]!.hash }] })).toMatchObject({
      ok: false,
      firstBadSeq: 10,
      reason: 'head-mismatch',
    });
  });
});

describe('tamper detection on an export of a SqliteAuditStore', () => {
  let dir: string;
  let file: string;
  let store: SqliteAuditStore;
  let exported: AuditEntry[];
  const K = 7;

  beforeEach(async () => {
    ({ dir, file } = tempFile());
    store = new SqliteAuditStore({ file });
    for (let i = 0; i < 4; i++) {
      await store.append(Array.from({ length: 5 }, () => auditEvent()));
      await store.append([auditEvent()], 'other');
    }
    exported = (await store.query({})).filter((e) => e.chain === 'main');
    expect(exported).toHaveLength(20);
    expect(verifyChain(exported).ok).toBe(true);
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const at = (seq: number): AuditEntry => exported[seq - 1]!;

  it('(a) detects an edited field of entry k', () => {
    for (const edit of [
      { actor: 'cli' },
      { time: '2020-01-01T00:00:00.000Z' },
      { messageId: null },
      { digest: 'cd'.repeat(32) },
      { detail: { n: -1 } },
    ]) {
      const tampered = exported.map((e) => (e.seq === K ? { ...e, ...edit } : e));
      expect(verifyChain(tampered)).toMatchObject({
        ok: false,
        chain: 'main',
        firstBadSeq: K,
        reason: 'hash-mismatch',
      });
    }
  });

  it('(b) detects a deleted entry k', () => {
    const tampered = exported.filter((e) => e.seq !== K);
    expect(verifyChain(tampered)).toMatchObject({
      ok: false,
      chain: 'main',
      firstBadSeq: K,
      reason: 'seq-mismatch',
    });
  });

  it('(c) detects an inserted forged entry', () => {
    // Naive forgery: plausible fields, but the hash cannot be right without recomputing.
    const naive = { ...at(K), detail: { forged: true } };
    const withNaive = [...exported.slice(0, K - 1), naive, ...exported.slice(K - 1)];
    expect(verifyChain(withNaive)).toMatchObject({ ok: false, firstBadSeq: K, reason: 'hash-mismatch' });

    // Careful forgery: correctly linked and hashed as seq k; the displaced original k breaks.
    const forged = chainEntry(auditEvent({ kind: 'delivered' }), 'main', at(K - 1));
    const withForged = [...exported.slice(0, K - 1), forged, ...exported.slice(K - 1)];
    expect(verifyChain(withForged)).toMatchObject({ ok: false, firstBadSeq: K + 1, reason: 'seq-mismatch' });

    // Rewriting the whole tail consistently is only caught against a trusted head (a checkpoint).
    const rewritten = [...exported.slice(0, K - 1), forged];
    for (const original of exported.slice(K - 1))
      rewritten.push(chainEntry(original, 'main', rewritten.at(-1)!));
    expect(verifyChain(rewritten).ok).toBe(true);
    const head = { chain: 'main', seq: 20, hash: at(20).hash };
    expect(verifyChain(rewritten, { to: [head] })).toMatchObject({
      ok: false,
      firstBadSeq: 20,
      reason: 'head-mismatch',
    });
  });

  it('(d) detects two swapped entries', () => {
    const tampered = [...exported];
    [tampered[K - 1], tampered[K]] = [tampered[K]!, tampered[K - 1]!];
    expect(verifyChain(tampered)).toMatchObject({ ok: false, firstBadSeq: K, reason: 'seq-mismatch' });
    // Swapping the seq numbers too does not help.
    const renumbered = tampered.map((e, i) => ({ ...e, seq: i + 1 }));
    expect(verifyChain(renumbered)).toMatchObject({
      ok: false,
      firstBadSeq: K,
      reason: 'prev-hash-mismatch',
    });
  });

  it('(e) detects an edited entry whose hash was recomputed: the next link breaks', () => {
    const edited = { ...at(K), actor: 'token:intruder' };
    edited.hash = entryHash(edited);
    const tampered = exported.map((e) => (e.seq === K ? edited : e));
    expect(verifyChain(tampered)).toMatchObject({
      ok: false,
      chain: 'main',
      firstBadSeq: K + 1,
      reason: 'prev-hash-mismatch',
    });
  });

  it('refuses UPDATE and DELETE through SQL (triggers)', () => {
    const db = new Database(file);
    try {
      expect(() => db.prepare("UPDATE audit_entries SET actor = 'cli' WHERE seq = ?").run(K)).toThrow(
        /append-only/,
      );
      expect(() => db.prepare('DELETE FROM audit_entries WHERE seq = ?').run(K)).toThrow(/append-only/);
      expect(() => db.prepare('DELETE FROM audit_entries').run()).toThrow(/append-only/);
    } finally {
      db.close();
    }
  });

  it('detects rows edited or deleted in the file by someone who dropped the triggers', async () => {
    await store.close();
    const db = new Database(file);
    db.exec('DROP TRIGGER audit_entries_no_update; DROP TRIGGER audit_entries_no_delete;');
    db.prepare(`UPDATE audit_entries SET detail = '{"n":0}' WHERE chain = 'main' AND seq = ?`).run(K);
    db.prepare(`DELETE FROM audit_entries WHERE chain = 'other' AND seq = 2`).run();
    db.close();
    store = new SqliteAuditStore({ file }); // recreates the triggers
    const all = await store.query({});
    const result = verifyChain(all);
    expect(result).toMatchObject({ ok: false, chain: 'main', firstBadSeq: K, reason: 'hash-mismatch' });
    expect(verifyChain(all.filter((e) => e.chain === 'other'))).toMatchObject({ ok: false, firstBadSeq: 2 });
  });
});

// ---- property: any single-entry mutation of a valid chain is detected ----

function buildChain(events: ReadonlyArray<readonly [AuditEventInput, string]>): AuditEntry[] {
  const heads = new Map<string, { seq: number; hash: string }>();
  return events.map(([event, chain]) => {
    const entry = chainEntry(event, chain, heads.get(chain) ?? { seq: 0, hash: GENESIS_HASH });
    heads.set(chain, entry);
    return entry;
  });
}

function headsOf(entries: AuditEntry[]): ChainHead[] {
  const heads = new Map<string, ChainHead>();
  for (const e of entries) heads.set(e.chain, { chain: e.chain, seq: e.seq, hash: e.hash });
  return [...heads.values()];
}

const nullableString = fc.option(fc.string({ maxLength: 12 }), { nil: null });
const eventArb: fc.Arbitrary<AuditEventInput> = fc.record({
  time: fc
    .date({
      min: new Date('2000-01-01T00:00:00Z'),
      max: new Date('2100-01-01T00:00:00Z'),
      noInvalidDate: true,
    })
    .map((d) => d.toISOString()),
  kind: fc.constantFrom(...AUDIT_EVENT_KINDS),
  actor: fc.string({ minLength: 1, maxLength: 12 }),
  messageId: nullableString,
  sender: nullableString,
  receiver: nullableString,
  senderSystem: nullableString,
  receiverSystem: nullableString,
  messageType: nullableString,
  digest: nullableString,
  detail: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
});
const chainArb = fc
  .array(fc.tuple(eventArb, fc.constantFrom('main', 'b', 'c')), { minLength: 1, maxLength: 25 })
  .map(buildChain);

const FIELDS = [
  'chain',
  'seq',
  'time',
  'kind',
  'actor',
  'messageId',
  'sender',
  'receiver',
  'senderSystem',
  'receiverSystem',
  'messageType',
  'digest',
  'detail',
  'prevHash',
  'hash',
] as const;

describe('property: single-entry mutations are detected', () => {
  it('detects any edited field, at the edited seq', () => {
    fc.assert(
      fc.property(
        chainArb,
        fc.nat(),
        fc.constantFrom(...FIELDS),
        fc.string({ minLength: 1, maxLength: 4 }),
        fc.integer({ min: -3, max: 3 }).filter((d) => d !== 0),
        fc.string({ maxLength: 6 }),
        fc.jsonValue({ maxDepth: 2 }),
        (entries, pick, field, salt, delta, key, value) => {
          const index = pick % entries.length;
          const original = entries[index]!;
          const e: Record<string, unknown> = { ...original };
          const old = e[field];
          if (field === 'seq') e.seq = original.seq + delta;
          else if (field === 'detail') {
            const detail = { ...original.detail, [key]: value };
            fc.pre(canonicalJson(detail) !== canonicalJson(original.detail));
            e.detail = detail;
          } else if (old === null) e[field] = salt;
          else
            e[field] =
              salt.length % 2 === 0 && !['chain', 'time', 'kind', 'actor'].includes(field)
                ? null
                : old + salt;
          const tampered = entries.map((x, i) => (i === index ? (e as unknown as AuditEntry) : x));
          const result = verifyChain(tampered);
          expect(result.ok).toBe(false);
          if (field !== 'chain')
            expect(result).toMatchObject({ chain: original.chain, firstBadSeq: original.seq });
        },
      ),
      { numRuns: 400 },
    );
  });

  it('detects a deleted, duplicated, swapped or forged entry', () => {
    fc.assert(
      fc.property(
        chainArb,
        fc.constantFrom('delete', 'duplicate', 'swap', 'forge'),
        fc.nat(),
        fc.nat(),
        eventArb,
        (entries, op, p1, p2, forgedEvent) => {
          const index = p1 % entries.length;
          const target = entries[index]!;
          const tampered = [...entries];
          let expectedBad: number;
          if (op === 'delete') {
            tampered.splice(index, 1);
            expectedBad = target.seq;
          } else if (op === 'duplicate') {
            tampered.splice(index + 1, 0, target);
            expectedBad = target.seq + 1;
          } else if (op === 'swap') {
            const sameChain = entries
              .map((e, i) => [e, i] as const)
              .filter(([e]) => e.chain === target.chain);
            fc.pre(sameChain.length >= 2);
            const other = sameChain[p2 % sameChain.length]!;
            fc.pre(other[1] !== index);
            tampered[index] = other[0];
            tampered[other[1]] = target;
            expectedBad = Math.min(target.seq, other[0].seq);
          } else {
            // A correctly linked and hashed entry inserted before `target` (not an append at the end).
            const prev =
              target.seq === 1
                ? { seq: 0, hash: GENESIS_HASH }
                : { seq: target.seq - 1, hash: target.prevHash };
            tampered.splice(index, 0, chainEntry(forgedEvent, target.chain, prev));
            // The displaced original breaks, unless the forgery sits at the trusted head's seq itself.
            const isHead = !entries.some((e) => e.chain === target.chain && e.seq > target.seq);
            expectedBad = isHead ? target.seq : target.seq + 1;
          }
          const result = verifyChain(tampered, { to: headsOf(entries) });
          expect(result).toMatchObject({ ok: false, chain: target.chain, firstBadSeq: expectedBad });
        },
      ),
      { numRuns: 400 },
    );
  });

  it('accepts every unmutated chain', () => {
    fc.assert(
      fc.property(chainArb, (entries) => {
        expect(verifyChain(entries, { to: headsOf(entries) })).toMatchObject({
          ok: true,
          count: entries.length,
        });
      }),
      { numRuns: 100 },
    );
  });
});

// ---- two processes, one file ----

describe('two processes appending to one file', () => {
  it('produce one valid chain with every event exactly once', async () => {
    const { dir, file } = tempFile();
    const storeModule = fileURLToPath(new URL('../../gateway/audit/sqlite-audit-store.ts', import.meta.url));
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const APPENDS = 60;
    const PER_APPEND = 5;
    // Each child stops halfway until the other one has appended something, so the two really
    // interleave (A…B…A or B…A…B) however the scheduler starts them.
    const child = `
      const { SqliteAuditStore } = await import(process.env.STORE_MODULE);
      const store = new SqliteAuditStore({ file: process.env.AUDIT_FILE, sync: 'NORMAL' });
      const proc = Number(process.env.PROC);
      for (let i = 0; i < ${APPENDS}; i++) {
        if (i === ${APPENDS / 2}) {
          const deadline = Date.now() + 20000;
          while ((await store.query({ messageId: 'p' + (1 - proc) + '-0' })).length === 0) {
            if (Date.now() > deadline) throw new Error('the other process never appended');
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
        }
        const events = Array.from({ length: ${PER_APPEND} }, (_, j) => ({
          time: new Date().toISOString(), kind: 'queued', actor: 'gateway', messageId: 'p' + proc + '-' + i,
          sender: null, receiver: null, senderSystem: null, receiverSystem: null, messageType: null, digest: null,
          detail: { proc, i, j },
        }));
        await store.append(events);
      }
      await store.close();
    `;
    const procs = [0, 1].map((proc) =>
      spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], {
        cwd: root,
        env: { ...process.env, STORE_MODULE: storeModule, AUDIT_FILE: file, PROC: String(proc) },
        stdio: ['ignore', 'inherit', 'inherit'],
      }),
    );
    try {
      const exits = procs.map((p) => new Promise<number | null>((resolve) => p.once('exit', resolve)));
      expect(await Promise.all(exits)).toEqual([0, 0]);

      const store = new SqliteAuditStore({ file });
      const all = await store.query({});
      await store.close();
      expect(verifyChain(all)).toMatchObject({ ok: true, count: 2 * APPENDS * PER_APPEND });
      expect(all.map((e) => e.seq)).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
      const keys = new Set(all.map((e) => JSON.stringify(e.detail)));
      expect(keys.size).toBe(2 * APPENDS * PER_APPEND);
      // Each append is contiguous: the 5 events of one call have consecutive seqs.
      for (let s = 0; s < all.length; s += PER_APPEND) {
        expect(new Set(all.slice(s, s + PER_APPEND).map((e) => e.messageId)).size).toBe(1);
      }
      // The processes really interleaved.
      const switches = all.filter((e, i) => i > 0 && e.messageId![1] !== all[i - 1]!.messageId![1]).length;
      expect(switches).toBeGreaterThan(1);
    } finally {
      for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- AuditLog ----

describe('AuditLog', () => {
  it('fills time and defaults and appends to its chain', async () => {
    const { dir, file } = tempFile();
    const store = new SqliteAuditStore({ file });
    try {
      const log = new AuditLog(store, { now: () => new Date('2025-06-01T12:00:00.123Z') });
      const entry = await log.record({
        kind: 'rejected',
        actor: 'gateway',
        detail: { code: 'GW_NO_CONTRACT' },
      });
      // What the log filled in: the time, and null for every field the event did not name.
      expect(entry).toMatchObject({
        chain: 'main',
        seq: 1,
        ...bareAuditEvent({
          time: '2025-06-01T12:00:00.123Z',
          kind: 'rejected',
          actor: 'gateway',
          detail: { code: 'GW_NO_CONTRACT' },
        }),
        prevHash: GENESIS_HASH,
      });
      const many = await log.recordMany([
        { kind: 'received', actor: 'system:sn-melde', messageId: 'm-9' },
        { kind: 'accepted', actor: 'gateway', messageId: 'm-9', time: '2025-06-01T12:00:01.000Z' },
      ]);
      expect(many.map((e) => [e.seq, e.detail, e.time])).toEqual([
        [2, {}, '2025-06-01T12:00:00.123Z'],
        [3, {}, '2025-06-01T12:00:01.000Z'],
      ]);
      const other = new AuditLog(store, { chain: 'ops' });
      const opsEntry = await other.record({ kind: 'token-issued', actor: 'cli' });
      expect(opsEntry).toMatchObject({ chain: 'ops', seq: 1 });
      expect(opsEntry.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      expect(verifyChain(await store.query({}))).toMatchObject({ ok: true, count: 4 });
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('writes a replayed partition once through a per-partition chain, and counts what it stored', async () => {
    const { dir, file } = tempFile();
    const store = new SqliteAuditStore({ file });
    try {
      let counted = 0;
      const log = new AuditLog(store, { chain: 'gw-a', onAppended: (n) => (counted += n) });
      const partition = log.withChain('delivery.st-melde.3');
      const handle = (offset: number) =>
        partition.recordMany([
          {
            kind: 'delivered',
            actor: 'gateway',
            messageId: `m-${offset}`,
            idempotencyKey: `${offset}/delivered`,
          },
          {
            kind: 'acknowledged',
            actor: 'gateway',
            messageId: `m-${offset}`,
            idempotencyKey: `${offset}/acknowledged`,
          },
        ]);
      const first = [await handle(7), await handle(8)];
      // The partition is replayed from offset 7 (a crash before the offset commit).
      const replay = [await handle(7), await handle(8), await handle(9)];
      expect(replay.slice(0, 2)).toEqual(first);
      const stored = await store.query({ chain: 'delivery.st-melde.3' });
      expect(stored.map((e) => [e.seq, e.messageId, e.kind])).toEqual([
        [1, 'm-7', 'delivered'],
        [2, 'm-7', 'acknowledged'],
        [3, 'm-8', 'delivered'],
        [4, 'm-8', 'acknowledged'],
        [5, 'm-9', 'delivered'],
        [6, 'm-9', 'acknowledged'],
      ]);
      expect(await store.query({ chain: 'gw-a' })).toEqual([]);
      expect(counted).toBe(10); // entries handed back, replays included
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- the search rows, projected behind the appends ----

describe('message search rows of a SqliteAuditStore', () => {
  let dir: string;
  let file: string;
  const opened: SqliteAuditStore[] = [];
  const open = (projectionDelayMs = 1e9) => {
    const store = new SqliteAuditStore({ file, projectionDelayMs });
    opened.push(store);
    return store;
  };
  /** The file as another reader sees it, without going through a store. */
  const raw = <T>(sql: string): T[] => {
    const db = new Database(file, { readonly: true });
    try {
      return db.prepare(sql).all() as T[];
    } finally {
      db.close();
    }
  };
  const rowEvents = () =>
    Object.fromEntries(
      raw<{ message_id: string; events: number }>('SELECT message_id, events FROM audit_messages').map(
        (r) => [r.message_id, r.events],
      ),
    );
  const trail = (id: string, kinds: AuditEventInput['kind'][]) =>
    kinds.map((kind) => auditEvent({ messageId: id, kind }));

  beforeEach(() => {
    ({ dir, file } = tempFile());
  });

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('are not written by the append commit, and a search catches them up first', async () => {
    const store = open();
    await store.append(trail('m-1', ['received', 'accepted', 'queued']));
    await store.append(trail('m-1', ['delivered']), 'delivery.st-melde.0');
    expect(raw('SELECT * FROM audit_messages')).toEqual([]);
    const [row] = (await store.searchMessages({ messageId: 'm-1', limit: 1 })).items;
    expect(row).toMatchObject({ status: 'delivered', events: 4 });
    expect(rowEvents()).toEqual({ 'm-1': 4 });
    expect(raw('SELECT chain, seq FROM audit_projection ORDER BY chain')).toEqual([
      { chain: 'delivery.st-melde.0', seq: 1 },
      { chain: 'main', seq: 3 },
    ]);
  });

  it('are projected in the background shortly after an append', async () => {
    const store = open(20);
    await store.append(trail('m-1', ['received', 'accepted']));
    const deadline = Date.now() + 5000;
    while (rowEvents()['m-1'] !== 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(rowEvents()).toEqual({ 'm-1': 2 });
  });

  it('are repaired at open when a process stopped between its appends and their projection', async () => {
    const crashed = open();
    await crashed.append(trail('m-1', ['received', 'accepted', 'queued']));
    await crashed.append(trail('m-2', ['received', 'rejected']), 'other');
    await crashed.append(trail('m-1', ['delivered', 'acknowledged']), 'delivery.st-melde.0');
    expect(rowEvents()).toEqual({});
    // `crashed` never projects (its timer is far off): the next process to open the file does.
    const next = open();
    expect(rowEvents()).toEqual({ 'm-1': 5, 'm-2': 2 });
    // What the first process appends afterwards reaches the other's searches, counted once.
    await crashed.append(trail('m-2', ['audit-export']), 'other');
    expect((await next.searchMessages({ messageId: 'm-2', limit: 1 })).items[0]).toMatchObject({
      status: 'rejected',
      events: 3,
    });
    expect((await crashed.searchMessages({ messageId: 'm-1', limit: 1 })).items[0]).toMatchObject({
      status: 'acknowledged',
      events: 5,
    });
    expect(rowEvents()).toEqual({ 'm-1': 5, 'm-2': 3 });
  });

  it('upgrades a version 2 file (rows written in the appends) without folding an entry twice', async () => {
    const store = open();
    await store.append(trail('m-1', ['received', 'accepted']));
    await store.append(trail('m-1', ['delivered']), 'delivery.st-melde.0');
    await store.close();
    opened.length = 0;
    // Version 2: no watermarks (every entry was in its row at commit), and the (kind, chain, seq) index.
    const db = new Database(file);
    db.exec(`DROP TABLE audit_projection;
      CREATE INDEX audit_entries_by_kind ON audit_entries (kind, chain, seq);
      PRAGMA user_version = 2;`);
    db.close();
    const upgraded = open();
    expect(rowEvents()).toEqual({ 'm-1': 3 });
    expect(raw("SELECT name FROM sqlite_schema WHERE name = 'audit_entries_by_kind'")).toEqual([]);
    await upgraded.append(trail('m-1', ['acknowledged']), 'delivery.st-melde.0');
    expect((await upgraded.searchMessages({ messageId: 'm-1', limit: 1 })).items[0]).toMatchObject({
      status: 'acknowledged',
      events: 4,
    });
  });

  it('are built at open for a version 1 file, which had none', async () => {
    const store = open();
    await store.append(trail('m-1', ['received', 'accepted', 'queued']));
    await store.append(trail('m-2', ['received', 'dead-lettered']), 'delivery.st-melde.0');
    await store.close();
    opened.length = 0;
    const db = new Database(file);
    db.exec('DROP TABLE audit_projection; DROP TABLE audit_messages; PRAGMA user_version = 1;');
    db.close();
    open();
    expect(rowEvents()).toEqual({ 'm-1': 3, 'm-2': 2 });
  });
});
