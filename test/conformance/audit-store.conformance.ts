/**
 * The AuditStore conformance suite: what every implementation (SQLite, PostgreSQL, …) must honour.
 * Call runAuditStoreConformance from a *.test.ts file with a factory that returns a fresh, empty store.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auditKeyIdOf, signerFor } from '../../gateway/audit/audit-key.ts';
import {
  checkpointHash,
  checkpointSignatureValid,
  GENESIS_CHECKPOINT_HASH,
} from '../../gateway/audit/checkpoint.ts';
import { entryHash, GENESIS_HASH, verifyChain } from '../../gateway/audit/hash-chain.ts';
import { merkleRoot, packHashes } from '../../gateway/audit/merkle.ts';
import { verifyInclusionProof } from '../../gateway/audit/verify-proof.ts';
import { messageView } from '../../gateway/pipeline/status.ts';
import type {
  AuditEntry,
  AuditEventInput,
  AuditMessageSummary,
  AuditStore,
} from '../../gateway/ports/audit-store.ts';

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

/** A throwaway audit key: what the gateway keeps in <dataDir>/pki/audit.key. */
export function testAuditKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyId = auditKeyIdOf(publicKey);
  return {
    publicKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
    signer: signerFor(privateKey, keyId),
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

    it('answers whether a message has an event of a kind, in any chain, once it is appended', async () => {
      expect(await store.hasEvent('m-1', 'accepted')).toBe(false);
      await store.append([
        auditEvent({ messageId: 'm-1', kind: 'received' }),
        auditEvent({ messageId: 'm-2', kind: 'accepted' }),
        auditEvent({ messageId: null, kind: 'accepted' }),
      ]);
      await store.append([auditEvent({ messageId: 'm-1', kind: 'delivered' })], 'side');

      expect(await store.hasEvent('m-1', 'received')).toBe(true);
      expect(await store.hasEvent('m-1', 'delivered')).toBe(true);
      expect(await store.hasEvent('m-1', 'accepted')).toBe(false);
      expect(await store.hasEvent('m-2', 'accepted')).toBe(true);
      expect(await store.hasEvent('m-2', 'received')).toBe(false);
      expect(await store.hasEvent('nope', 'accepted')).toBe(false);

      await store.append([auditEvent({ messageId: 'm-1', kind: 'accepted' })], 'side');
      expect(await store.hasEvent('m-1', 'accepted')).toBe(true);
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

    // ---- idempotent writer -------------------------------------------------------------------

    it('writes an event with a known idempotency key only once and returns the stored entry', async () => {
      const first = await store.append([
        auditEvent({ idempotencyKey: 'deliver.st/0/17/0' }),
        auditEvent({ idempotencyKey: 'deliver.st/0/17/1' }),
      ]);
      expect(first.map((e) => e.seq)).toEqual([1, 2]);
      expect(first[0]).not.toHaveProperty('idempotencyKey');
      // The replay carries a later time (a second consumer run); nothing is written, the originals come back.
      const replay = await store.append([
        auditEvent({ idempotencyKey: 'deliver.st/0/17/0', time: '2030-01-01T00:00:00.000Z' }),
        auditEvent({ idempotencyKey: 'deliver.st/0/18/0' }),
        auditEvent({ idempotencyKey: 'deliver.st/0/17/1' }),
        auditEvent(),
      ]);
      expect(replay[0]).toEqual(first[0]);
      expect(replay[2]).toEqual(first[1]);
      expect(replay.map((e) => e.seq)).toEqual([1, 3, 2, 4]);
      expect(replay[1]!.prevHash).toBe(first[1]!.hash);
      expect(replay[3]!.prevHash).toBe(replay[1]!.hash);
      const stored = await store.query({});
      expect(stored).toHaveLength(4);
      expect(verifyChain(stored)).toMatchObject({ ok: true, count: 4 });
    });

    it('keeps idempotency keys per chain and dedupes a key repeated within one call', async () => {
      const [a] = await store.append([auditEvent({ idempotencyKey: 'k' })], 'a');
      const [b] = await store.append([auditEvent({ idempotencyKey: 'k' })], 'b');
      expect(a!.seq).toBe(1);
      expect(b).toMatchObject({ chain: 'b', seq: 1 });
      const twice = await store.append([
        auditEvent({ idempotencyKey: 'x' }),
        auditEvent({ idempotencyKey: 'x' }),
      ]);
      expect(twice[1]).toEqual(twice[0]);
      expect((await store.query({ chain: 'main' })).length).toBe(1);
      await expect(store.append([auditEvent({ idempotencyKey: '' })])).rejects.toThrow(/idempotencyKey/);
    });

    it('writes a replayed partition once even when the replays run concurrently', async () => {
      const partition = Array.from({ length: 50 }, (_, offset) =>
        auditEvent({ messageId: `m-${offset}`, idempotencyKey: `deliver.st/3/${offset}/0` }),
      );
      const runs = await Promise.all([
        store.append(partition.slice(0, 30)),
        store.append(partition.slice(10, 50)),
        store.append(partition),
      ]);
      const stored = await store.query({});
      expect(stored).toHaveLength(50);
      expect(new Set(stored.map((e) => e.messageId)).size).toBe(50);
      for (const run of runs) {
        for (const entry of run) expect(stored).toContainEqual(entry);
      }
      expect(verifyChain(stored)).toMatchObject({ ok: true, count: 50 });
    });

    // ---- query by chain and seq range --------------------------------------------------------

    it('queries one chain and a seq range', async () => {
      await store.append(events(6));
      await store.append(events(4), 'side');
      const range = await store.query({ chain: 'main', fromSeq: 2, toSeq: 4 });
      expect(range.map((e) => [e.chain, e.seq])).toEqual([
        ['main', 2],
        ['main', 3],
        ['main', 4],
      ]);
      expect((await store.query({ chain: 'side' })).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      expect(await store.query({ chain: 'nope' })).toEqual([]);
    });

    // ---- signed checkpoints and inclusion proofs ---------------------------------------------

    it('creates no checkpoint for an empty store or when nothing is new', async () => {
      const key = testAuditKey();
      expect(await store.createCheckpoint(key.signer)).toBeNull();
      expect(await store.latestCheckpoint()).toBeNull();
      await store.append(events(3));
      expect(await store.createCheckpoint(key.signer)).not.toBeNull();
      expect(await store.createCheckpoint(key.signer)).toBeNull();
      expect(await store.checkpoints()).toHaveLength(1);
    });

    it('signs checkpoints over the Merkle root of the new entries of every chain, chained by prev', async () => {
      const key = testAuditKey();
      const main1 = await store.append(events(5));
      const side1 = await store.append(events(2), 'side');
      const cp1 = (await store.createCheckpoint(key.signer, '2025-03-01T10:00:00.000Z'))!;
      expect(cp1).toMatchObject({
        type: 'gw-audit-checkpoint',
        version: 1,
        id: 1,
        time: '2025-03-01T10:00:00.000Z',
        prev: GENESIS_CHECKPOINT_HASH,
        from: [],
        treeSize: 7,
        keyId: key.signer.keyId,
        algorithm: 'ecdsa-p256-sha256',
      });
      expect(cp1.heads).toEqual(await store.heads());
      expect(cp1.root).toBe(merkleRoot(packHashes([...main1, ...side1].map((e) => e.hash))));
      expect(checkpointSignatureValid(cp1, key.publicKey)).toBe(true);
      expect(checkpointSignatureValid({ ...cp1, treeSize: 6 }, key.publicKey)).toBe(false);

      // Only 'main' and a new chain 'alpha' moved: the leaves are alpha's, then main's new ones.
      const alpha = await store.append(events(1), 'alpha');
      const main2 = await store.append(events(3));
      const cp2 = (await store.createCheckpoint(key.signer))!;
      expect(cp2).toMatchObject({ id: 2, prev: checkpointHash(cp1), from: cp1.heads, treeSize: 4 });
      expect(cp2.heads.map((h) => h.chain)).toEqual(['alpha', 'main', 'side']);
      expect(cp2.root).toBe(merkleRoot(packHashes([...alpha, ...main2].map((e) => e.hash))));
      expect(checkpointSignatureValid(cp2, key.publicKey)).toBe(true);

      expect(await store.checkpoints()).toEqual([cp1, cp2]);
      expect(await store.checkpoints({ afterId: 1 })).toEqual([cp2]);
      expect(await store.checkpoints({ limit: 1 })).toEqual([cp1]);
      expect(await store.latestCheckpoint()).toEqual(cp2);
      // The heads of the last checkpoint are trusted heads for verify.
      expect(verifyChain(await store.query({}), { to: cp2.heads })).toMatchObject({ ok: true, count: 11 });
    });

    it('proves every covered entry to its checkpoint, verifiable with WebCrypto and audit.pub alone', async () => {
      const key = testAuditKey();
      await store.append(events(6));
      await store.append(events(3), 'b');
      await store.createCheckpoint(key.signer);
      await store.append(events(5));
      await store.createCheckpoint(key.signer);
      const [pending] = await store.append(events(1));
      const all = await store.query({});
      for (const entry of all) {
        const proof = await store.inclusionProof(entry.chain, entry.seq);
        if (entry === all.find((e) => e.chain === 'main' && e.seq === pending!.seq)) {
          expect(proof).toBeNull(); // not covered by a checkpoint yet
          continue;
        }
        expect(proof, `${entry.chain} ${entry.seq}`).not.toBeNull();
        expect(proof!.entryHash).toBe(entry.hash);
        expect(proof!.checkpoint.id).toBe(entry.chain === 'main' && entry.seq > 6 ? 2 : 1);
        expect(await verifyInclusionProof(proof!, key.publicKeyPem, entry)).toEqual({ ok: true });
      }
      const proof = (await store.inclusionProof('main', 3))!;
      const other = testAuditKey();
      expect((await verifyInclusionProof(proof, other.publicKeyPem)).ok).toBe(false);
      expect(
        (await verifyInclusionProof({ ...proof, leafIndex: proof.leafIndex + 1 }, key.publicKeyPem)).ok,
      ).toBe(false);
      const flipped = proof.path.map((p, i) => (i === 0 ? `${p[0] === '0' ? '1' : '0'}${p.slice(1)}` : p));
      expect((await verifyInclusionProof({ ...proof, path: flipped }, key.publicKeyPem)).ok).toBe(false);
      const edited = { ...all.find((e) => e.chain === 'main' && e.seq === 3)!, actor: 'someone-else' };
      expect((await verifyInclusionProof(proof, key.publicKeyPem, edited)).ok).toBe(false);
      expect(await store.inclusionProof('main', 999)).toBeNull();
      expect(await store.inclusionProof('nope', 1)).toBeNull();
    });

    // ---- message search ----------------------------------------------------------------------

    it('keeps one search row per message whose status follows the status API', async () => {
      const kinds = ['received', 'accepted', 'signed', 'queued', 'delivered', 'acknowledged'] as const;
      for (const kind of kinds) await store.append([auditEvent({ messageId: 'm-ok', kind })]);
      await store.append([
        auditEvent({ messageId: 'm-dl', kind: 'received' }),
        auditEvent({ messageId: 'm-dl', kind: 'queued' }),
      ]);
      await store.append([auditEvent({ messageId: 'm-dl', kind: 'dead-lettered' })], 'delivery');
      await store.append([auditEvent({ messageId: 'm-rj', kind: 'rejected', sender: null, receiver: null })]);
      for (const id of ['m-ok', 'm-dl', 'm-rj']) {
        // In time order: with several chains, (chain, seq) order is not the order of events.
        const trail = (await store.query({ messageId: id })).sort((a, b) => (a.time < b.time ? -1 : 1));
        const [row] = (await store.searchMessages({ messageId: id, limit: 10 })).items;
        const view = messageView(id, trail)!;
        expect(row).toEqual({
          messageId: id,
          firstTime: trail[0]!.time,
          lastTime: trail.at(-1)!.time,
          status: view.status,
          messageType: view.messageType,
          sender: view.sender,
          receiver: view.receiver,
          senderSystem: view.senderSystem,
          receiverSystem: view.receiverSystem,
          digest: view.digest,
          events: trail.length,
        } satisfies AuditMessageSummary);
      }
      expect((await store.searchMessages({ messageId: 'm-dl', limit: 1 })).items[0]!.status).toBe(
        'dead-lettered',
      );
      // A replay after dead-lettering moves the message on again.
      await store.append([
        auditEvent({ messageId: 'm-dl', kind: 'replayed' }),
        auditEvent({ messageId: 'm-dl', kind: 'delivered' }),
      ]);
      expect((await store.searchMessages({ messageId: 'm-dl', limit: 1 })).items[0]).toMatchObject({
        status: 'delivered',
        events: 5,
      });
    });

    it('searches by authority, system, type, status and time, paged and sorted, within a scope', async () => {
      const at = (minute: number) => new Date(Date.UTC(2025, 5, 1, 8, minute)).toISOString();
      const message = (
        id: string,
        minute: number,
        sender: string,
        receiver: string,
        kinds: AuditEventInput['kind'][],
      ) =>
        store.append(
          kinds.map((kind, i) =>
            auditEvent({
              messageId: id,
              kind,
              time: at(minute + i / 100),
              sender,
              receiver,
              senderSystem: sender.startsWith('ags:14')
                ? 'sn-melde'
                : sender.startsWith('ags:15')
                  ? 'st-melde'
                  : 'th-melde',
              receiverSystem: receiver.startsWith('ags:14')
                ? 'sn-melde'
                : receiver.startsWith('ags:15')
                  ? 'st-melde'
                  : 'th-melde',
              messageType: kind === 'received' && id.endsWith('3') ? 'xmeld:0203' : 'xmeld:0201',
            }),
          ),
        );
      // Dresden (SN) → Magdeburg (ST), Magdeburg → Dresden, Erfurt (TH) → Magdeburg, Erfurt → Erfurt.
      await message('sn-st-1', 1, 'ags:14612000', 'ags:15003000', ['received', 'accepted', 'delivered']);
      await message('st-sn-2', 2, 'ags:15003000', 'ags:14612000', ['received', 'accepted']);
      await message('th-st-3', 3, 'ags:16051000', 'ags:15003000', ['received', 'rejected']);
      await message('th-th-4', 4, 'ags:16051000', 'ags:16055000', [
        'received',
        'accepted',
        'delivered',
        'acknowledged',
      ]);
      await message('sn-th-5', 5, 'ags:14612000', 'ags:16051000', ['received']);
      const ids = async (
        search: Omit<Parameters<AuditStore['searchMessages']>[0], 'limit'> & { limit?: number },
      ) => (await store.searchMessages({ limit: 100, ...search })).items.map((m) => m.messageId);

      expect(await ids({})).toEqual(['sn-st-1', 'st-sn-2', 'th-st-3', 'th-th-4', 'sn-th-5']);
      expect(await ids({ order: 'desc' })).toEqual(['sn-th-5', 'th-th-4', 'th-st-3', 'st-sn-2', 'sn-st-1']);
      expect(await ids({ authority: 'ags:14*' })).toEqual(['sn-st-1', 'st-sn-2', 'sn-th-5']);
      expect(await ids({ authority: 'ags:15003000' })).toEqual(['sn-st-1', 'st-sn-2', 'th-st-3']);
      expect(await ids({ sender: 'ags:16*' })).toEqual(['th-st-3', 'th-th-4']);
      expect(await ids({ receiver: 'ags:16*', sender: 'ags:14*' })).toEqual(['sn-th-5']);
      expect(await ids({ system: 'st-melde' })).toEqual(['sn-st-1', 'st-sn-2', 'th-st-3']);
      expect(await ids({ senderSystem: 'th-melde', receiverSystem: 'th-melde' })).toEqual(['th-th-4']);
      expect(await ids({ messageType: 'xmeld:0203' })).toEqual(['th-st-3']);
      expect(await ids({ status: 'delivered' })).toEqual(['sn-st-1']);
      expect(await ids({ status: ['accepted', 'rejected'] })).toEqual(['st-sn-2', 'th-st-3']);
      expect(await ids({ from: at(2), to: at(4) })).toEqual(['st-sn-2', 'th-st-3']);
      expect(await ids({ from: '2025-06-01T08:04:00Z' })).toEqual(['th-th-4', 'sn-th-5']);
      // An auditor scoped to Sachsen sees messages from or to Saxon authorities, nothing Thüringen-only.
      expect(await ids({ scope: ['ags:14*'] })).toEqual(['sn-st-1', 'st-sn-2', 'sn-th-5']);
      expect(await ids({ scope: ['ags:14*'], authority: 'ags:16*' })).toEqual(['sn-th-5']);
      expect(await ids({ scope: ['ags:16*', 'ags:15003000'] })).toEqual([
        'sn-st-1',
        'st-sn-2',
        'th-st-3',
        'th-th-4',
        'sn-th-5',
      ]);
      expect(await ids({ scope: [] })).toEqual([]);
      expect(await ids({ systems: ['sn-melde'] })).toEqual(['sn-st-1', 'st-sn-2', 'sn-th-5']);
      expect(await ids({ systems: ['th-melde', 'sn-melde'], status: 'received' })).toEqual(['sn-th-5']);
      expect(await ids({ systems: [] })).toEqual([]);
      expect(await ids({ scope: ['ags:16*'], messageId: 'sn-st-1' })).toEqual([]);

      // Keyset paging, both directions, with filters.
      for (const order of ['asc', 'desc'] as const) {
        const all = await ids({ order });
        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await store.searchMessages({ limit: 2, order, ...(cursor ? { cursor } : {}) });
          expect(page.items.length).toBeLessThanOrEqual(2);
          seen.push(...page.items.map((m) => m.messageId));
          cursor = page.next;
        } while (cursor);
        expect(seen).toEqual(all);
      }
      const first = await store.searchMessages({ limit: 1, authority: 'ags:14*' });
      expect(first.items.map((m) => m.messageId)).toEqual(['sn-st-1']);
      const second = await store.searchMessages({ limit: 5, authority: 'ags:14*', cursor: first.next! });
      expect(second.items.map((m) => m.messageId)).toEqual(['st-sn-2', 'sn-th-5']);
      expect(second.next).toBeUndefined();

      for (const bad of [
        { limit: 0 },
        { limit: 1001 },
        { limit: 10, authority: 'Dresden' },
        { limit: 10, scope: ['ags:14*', '*'] },
        { limit: 10, status: 'lost' as never },
        { limit: 10, from: 'yesterday' },
        { limit: 10, cursor: 'not-a-cursor' },
      ]) {
        await expect(store.searchMessages(bad)).rejects.toMatchObject({ code: 'GW_ERR_BAD_REQUEST' });
      }
    });
  });
}
