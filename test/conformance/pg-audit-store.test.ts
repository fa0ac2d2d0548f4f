/**
 * PgAuditStore: the AuditStore conformance suite on the real PostgreSQL, each fixture in its own
 * schema; and two store instances (two processes' worth) appending to one chain.
 */
import { describe, expect, it } from 'vitest';
import { verifyChain } from '../../gateway/audit/hash-chain.ts';
import { PgAuditStore } from '../../gateway/audit/pg-audit-store.ts';
import { auditEvent, runAuditStoreConformance } from './audit-store.conformance.ts';
import { dropSchema, freshSchemaName, PG_URL } from './pg-test-schema.ts';

runAuditStoreConformance('postgres', async () => {
  const schema = freshSchemaName('audit');
  return {
    store: await PgAuditStore.connect({ url: PG_URL, schema }),
    reopen: () => PgAuditStore.connect({ url: PG_URL, schema }),
    cleanup: () => dropSchema(schema),
  };
});

describe('PgAuditStore, two instances on one schema', () => {
  it('interleave appends to one chain: each instance hashes ahead, and recomputes when the other moved the head', async () => {
    const schema = freshSchemaName('twin');
    const one = await PgAuditStore.connect({ url: PG_URL, schema });
    const two = await PgAuditStore.connect({ url: PG_URL, schema });
    try {
      // Round by round, so that the two really take turns on the chain head.
      const results = [];
      for (let r = 0; r < 40; r++) {
        const round = await Promise.all([
          one.append([auditEvent({ detail: { by: 1, r } }), auditEvent({ detail: { by: 1, r, j: 1 } })]),
          two.append([auditEvent({ detail: { by: 2, r } })]),
          one.append([auditEvent({ detail: { by: 1, r, j: 2 } })]),
        ]);
        results.push(...round.flat());
      }
      const stored = await two.query({});
      expect(stored).toHaveLength(160);
      expect(verifyChain(stored)).toMatchObject({ ok: true, count: 160 });
      // What each caller got back is exactly what is stored.
      for (const entry of results) expect(stored[entry.seq - 1]).toEqual(entry);
      // Both paths ran: batches hashed ahead on the known head, and hashed again after the other moved it.
      const stats = [one.stats(), two.stats()];
      expect(stats.reduce((n, x) => n + x.hashedAhead, 0)).toBeGreaterThan(0);
      expect(stats.reduce((n, x) => n + x.rehashed, 0)).toBeGreaterThan(0);
      expect(stats.reduce((n, x) => n + x.events, 0)).toBe(160);
      const owners = stored.map((e) => e.detail.by);
      expect(owners.filter((by, i) => i > 0 && by !== owners[i - 1]).length).toBeGreaterThan(2);
    } finally {
      await one.close();
      await two.close();
      await dropSchema(schema);
    }
  });
});

describe('PgAuditStore, batches with idempotency keys', () => {
  it('hashes new keys ahead, links a replayed key with its stored entry, then looks keys up for a while', async () => {
    const schema = freshSchemaName('keys');
    const store = await PgAuditStore.connect({ url: PG_URL, schema });
    try {
      const keyed = (key: string) => auditEvent({ idempotencyKey: key, detail: { key } });
      await store.append([auditEvent()], 'delivery.x.0'); // the head is known from here on
      const first = await store.append([keyed('a'), keyed('b')], 'delivery.x.0');
      expect(store.stats()).toMatchObject({ hashedAhead: 1, keyConflicts: 0 });

      // A partition delivered again: the key is held, so the planned INSERT fails and the batch is
      // linked again, returning the stored entry and appending only what is new.
      const replay = await store.append([keyed('b'), keyed('c')], 'delivery.x.0');
      expect(replay[0]).toEqual(first[1]);
      expect(replay[1]!.seq).toBe(first[1]!.seq + 1);
      expect(store.stats()).toMatchObject({ keyConflicts: 1 });

      // Replays come in runs: the next keyed batch is not hashed ahead into another conflict.
      const ahead = store.stats().hashedAhead;
      const again = await store.append([keyed('c'), keyed('d')], 'delivery.x.0');
      expect(again[0]).toEqual(replay[1]);
      expect(store.stats()).toMatchObject({ hashedAhead: ahead, keyConflicts: 1 });
      // Unkeyed batches are still hashed ahead.
      await store.append([auditEvent()], 'delivery.x.0');
      expect(store.stats().hashedAhead).toBe(ahead + 1);

      const stored = await store.query({ chain: 'delivery.x.0' });
      expect(stored.map((e) => e.detail.key ?? null)).toEqual([null, 'a', 'b', 'c', 'd', null]);
      expect(verifyChain(stored)).toMatchObject({ ok: true, count: 6 });
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });
});
