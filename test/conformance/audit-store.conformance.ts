/**
 * The AuditStore conformance suite: what every implementation (SQLite, PostgreSQL, …) must honour.
 * Call runAuditStoreConformance from a *.test.ts file with a factory that returns a fresh, empty store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { entryHash, GENESIS_HASH, verifyChain } from '../../gateway/audit/hash-chain.ts';
import type { AuditEntry, AuditEventInput, AuditStore } from '../../gateway/ports/audit-store.ts';

export interface AuditStoreFixture {
  store: AuditStore;
  /** Closes nothing; opens a new store on the same data (the suite closes the old one first). */
  reopen?: () => Promise<AuditStore>;
  cleanup: () => Promise<void>;
}

let counter = 0;

/** A valid event; `n` ends up in messageId and detail so entries can be told apart. */
export function auditEvent(overrides: Partial<AuditEventInput> = {}): AuditEventInput {
  const n = ++counter;
  return {
    time: new Date(Date.UTC(2025, 0, 1) + n).toISOString(),
    kind: 'received',
    actor: 'system:sn-melde',
    messageId: `msg-${n}`,
    sender: 'ags:14612000',
    receiver: 'ags:15003000',
    senderSystem: 'sn-melde',
    receiverSystem: 'st-melde',
    messageType: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
    digest: 'ab'.repeat(32),
    detail: { n },
    ...overrides,
  };
}

function events(count: number, overrides: Partial<AuditEventInput> = {}): AuditEventInput[] {
  return Array.from({ length: count }, () => auditEvent(overrides));
}

function expectValidChain(entries: AuditEntry[], chain: string, count: number): void {
  const ofChain = entries.filter((e) => e.chain === chain);
  expect(ofChain).toHaveLength(count);
  ofChain.forEach((entry, i) => {
    expect(entry.seq).toBe(i + 1);
    expect(entry.prevHash).toBe(i === 0 ? GENESIS_HASH : ofChain[i - 1]!.hash);
    expect(entry.hash).toBe(entryHash(entry));
  });
}

export function runAuditStoreConformance(name: string, factory: () => Promise<AuditStoreFixture>): void {
  describe(`AuditStore conformance: ${name}`, () => {
    let fixture: AuditStoreFixture;
    let store: AuditStore;
    let closed: boolean;

    beforeEach(async () => {
      fixture = await factory();
      store = fixture.store;
      closed = false;
    });

    afterEach(async () => {
      if (!closed) await store.close();
      await fixture.cleanup();
    });

    it('has a kind', () => {
      expect(typeof store.kind).toBe('string');
      expect(store.kind.length).toBeGreaterThan(0);
    });

    it('starts an empty store with no heads and no entries', async () => {
      expect(await store.heads()).toEqual([]);
      expect(await store.query({})).toEqual([]);
      expect(await store.append([])).toEqual([]);
      expect(await store.heads()).toEqual([]);
    });

    it('assigns seq from 1 without gaps, in order, across appends', async () => {
      const first = await store.append(events(3));
      const second = await store.append(events(1));
      const third = await store.append(events(5));
      expect([...first, ...second, ...third].map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect([...first, ...second, ...third].every((e) => e.chain === 'main')).toBe(true);
      const stored = await store.query({});
      expect(stored).toEqual([...first, ...second, ...third]);
    });

    it('returns the stored entries with the input fields unchanged', async () => {
      const input = events(2);
      const entries = await store.append(input);
      entries.forEach((entry, i) => {
        const { chain, seq, prevHash, hash, ...rest } = entry;
        expect(rest).toStrictEqual(input[i]);
        expect(hash).toMatch(/^[0-9a-f]{64}$/);
        expect(prevHash).toMatch(/^[0-9a-f]{64}$/);
      });
    });

    it('links each entry to the previous hash, the first to GENESIS', async () => {
      await store.append(events(4));
      await store.append(events(4));
      const stored = await store.query({});
      expect(stored[0]!.prevHash).toBe(GENESIS_HASH);
      for (let i = 1; i < stored.length; i++) expect(stored[i]!.prevHash).toBe(stored[i - 1]!.hash);
    });

    it('stores hashes equal to the entryHash recomputation', async () => {
      const appended = await store.append(events(6));
      for (const entry of appended) expect(entry.hash).toBe(entryHash(entry));
      for (const entry of await store.query({})) expect(entry.hash).toBe(entryHash(entry));
    });

    it('exports a chain that verifyChain accepts, with the store heads', async () => {
      await store.append(events(10));
      await store.append(events(7), 'other');
      const exported = await store.query({});
      const result = verifyChain(exported);
      expect(result).toEqual({ ok: true, count: 17, heads: await store.heads() });
      // A slice verifies from the head before it.
      const tail = exported.filter((e) => e.chain === 'main' && e.seq > 4);
      const anchor = exported.find((e) => e.chain === 'main' && e.seq === 4)!;
      expect(verifyChain(tail, { from: [{ chain: 'main', seq: 4, hash: anchor.hash }] }).ok).toBe(true);
      // fromSeq returns the same slice (per chain).
      expect((await store.query({ fromSeq: 5 })).filter((e) => e.chain === 'main')).toEqual(tail);
    });

    it('keeps separate chains independent', async () => {
      const a1 = await store.append(events(2), 'alpha');
      const b1 = await store.append(events(3), 'beta');
      const a2 = await store.append(events(2), 'alpha');
      const main = await store.append(events(1));
      expect(a1.map((e) => e.seq)).toEqual([1, 2]);
      expect(b1.map((e) => e.seq)).toEqual([1, 2, 3]);
      expect(a2.map((e) => e.seq)).toEqual([3, 4]);
      expect(main.map((e) => e.seq)).toEqual([1]);
      expect(b1[0]!.prevHash).toBe(GENESIS_HASH);
      expect(main[0]!.prevHash).toBe(GENESIS_HASH);
      const stored = await store.query({});
      expect(stored.map((e) => e.chain)).toEqual([
        'alpha',
        'alpha',
        'alpha',
        'alpha',
        'beta',
        'beta',
        'beta',
        'main',
      ]);
      expectValidChain(stored, 'alpha', 4);
      expectValidChain(stored, 'beta', 3);
      expectValidChain(stored, 'main', 1);
      expect(verifyChain(stored).ok).toBe(true);
      expect(await store.heads()).toEqual([
        { chain: 'alpha', seq: 4, hash: a2[1]!.hash },
        { chain: 'beta', seq: 3, hash: b1[2]!.hash },
        { chain: 'main', seq: 1, hash: main[0]!.hash },
      ]);
    });

    it('serialises 100 concurrent appends of 10 events into one valid chain of 1000', async () => {
      const batches = Array.from({ length: 100 }, (_, b) =>
        Array.from({ length: 10 }, (_, i) => auditEvent({ detail: { batch: b, i } })),
      );
      const results = await Promise.all(batches.map((batch) => store.append(batch)));
      // Each call's events are stored atomically and in order: consecutive seqs.
      results.forEach((entries, b) => {
        expect(entries).toHaveLength(10);
        entries.forEach((entry, i) => {
          expect(entry.detail).toEqual({ batch: b, i });
          expect(entry.seq).toBe(entries[0]!.seq + i);
        });
      });
      const stored = await store.query({});
      expect(stored).toHaveLength(1000);
      expectValidChain(stored, 'main', 1000);
      expect(new Set(stored.map((e) => e.hash)).size).toBe(1000);
      expect(new Set(stored.map((e) => JSON.stringify(e.detail))).size).toBe(1000);
      expect(verifyChain(stored)).toMatchObject({ ok: true, count: 1000 });
      expect(await store.heads()).toEqual([{ chain: 'main', seq: 1000, hash: stored[999]!.hash }]);
    });

    it('keeps concurrent appends to different chains apart', async () => {
      const calls = Array.from({ length: 60 }, (_, i) => store.append(events(3), `c${i % 3}`));
      await Promise.all(calls);
      const stored = await store.query({});
      for (const chain of ['c0', 'c1', 'c2']) expectValidChain(stored, chain, 60);
      expect(verifyChain(stored)).toMatchObject({ ok: true, count: 180 });
    });

    it('queries by messageId and by kind, in (chain, seq) order', async () => {
      await store.append([
        auditEvent({ messageId: 'm-1', kind: 'received' }),
        auditEvent({ messageId: 'm-2', kind: 'received' }),
        auditEvent({ messageId: 'm-1', kind: 'accepted' }),
      ]);
      await store.append([auditEvent({ messageId: 'm-1', kind: 'delivered' })], 'side');
      await store.append([
        auditEvent({ messageId: null, kind: 'rejected' }),
        auditEvent({ messageId: 'm-1', kind: 'signed' }),
        auditEvent({ messageId: 'm-2', kind: 'accepted' }),
      ]);

      const m1 = await store.query({ messageId: 'm-1' });
      expect(m1.map((e) => [e.chain, e.seq, e.kind])).toEqual([
        ['main', 1, 'received'],
        ['main', 3, 'accepted'],
        ['main', 5, 'signed'],
        ['side', 1, 'delivered'],
      ]);
      const accepted = await store.query({ kind: 'accepted' });
      expect(accepted.map((e) => [e.seq, e.messageId])).toEqual([
        [3, 'm-1'],
        [6, 'm-2'],
      ]);
      expect(await store.query({ messageId: 'm-2', kind: 'accepted' })).toEqual([accepted[1]]);
      expect(await store.query({ messageId: 'nope' })).toEqual([]);
      expect((await store.query({ messageId: 'm-1', limit: 2 })).map((e) => e.seq)).toEqual([1, 3]);
      expect((await store.query({ fromSeq: 4, limit: 2 })).map((e) => [e.chain, e.seq])).toEqual([
        ['main', 4],
        ['main', 5],
      ]);
    });

    it('reports heads that match the last entry of each chain', async () => {
      const a = await store.append(events(5));
      expect(await store.heads()).toEqual([{ chain: 'main', seq: 5, hash: a[4]!.hash }]);
      const b = await store.append(events(2));
      expect(await store.heads()).toEqual([{ chain: 'main', seq: 7, hash: b[1]!.hash }]);
      const stored = await store.query({});
      expect(stored.at(-1)).toMatchObject({ seq: 7, hash: b[1]!.hash });
    });

    it('round-trips nested detail exactly', async () => {
      const detail = {
        code: 'GW_CONTRACT_DENIED',
        attempt: 3,
        ratio: 0.125,
        big: 9007199254740991,
        negative: -42,
        ok: false,
        none: null,
        list: [1, 'two', { three: [3, { deep: true }] }, [], {}],
        nested: { z: 1, a: { y: [null, false], b: 'Ä ß € 𝄞 "quoted" \\ \n\t' } },
        'key with spaces': '',
        '': 'empty key',
      };
      const [entry] = await store.append([auditEvent({ detail })]);
      expect(entry!.detail).toStrictEqual(detail);
      const [stored] = await store.query({ messageId: entry!.messageId! });
      expect(stored).toStrictEqual(entry);
      expect(stored!.hash).toBe(entryHash({ ...stored!, detail }));
    });

    it('rejects a malformed event without appending anything or disturbing other callers', async () => {
      const bad = { ...auditEvent(), kind: 'exploded' } as unknown as AuditEventInput;
      const good = store.append(events(2));
      await expect(store.append([auditEvent(), bad])).rejects.toThrow();
      await expect(store.append([auditEvent({ time: 'yesterday' })])).rejects.toThrow();
      await expect(good).resolves.toHaveLength(2);
      const stored = await store.query({});
      expect(stored.map((e) => e.seq)).toEqual([1, 2]);
      expect(verifyChain(stored).ok).toBe(true);
    });

    it('keeps everything across close and reopen, and continues the chain', async () => {
      if (!fixture.reopen) return;
      const before = await store.append(events(20));
      await store.append(events(3), 'other');
      const heads = await store.heads();
      await store.close();
      closed = true;
      store = await fixture.reopen();
      closed = false;
      expect(await store.heads()).toEqual(heads);
      const after = await store.query({});
      expect(after.filter((e) => e.chain === 'main')).toEqual(before);
      const [next] = await store.append(events(1));
      expect(next).toMatchObject({ seq: 21, prevHash: before[19]!.hash });
      expect(verifyChain(await store.query({}))).toMatchObject({ ok: true, count: 24 });
    });
  });
}
