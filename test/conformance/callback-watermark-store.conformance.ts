/**
 * The CallbackWatermarkStore conformance suite: what the SQLite and the PostgreSQL stores must both
 * honour — no watermarks until the first write (a fresh deployment owes nothing), a write marks the
 * storage as kept even when it names no chain, a watermark only moves forward, and two instances on
 * one storage (two gateway processes or replicas) see each other's marks and may race in any order.
 * One chain's mark (readMark) is the one read() gives for it, whatever other chains are stored.
 */
import { describe, expect, it } from 'vitest';
import type { CallbackWatermarkStore } from '../../gateway/callbacks/callback-watermark-store.ts';
import { storeFixturePerTest } from './store-fixture.ts';

export interface CallbackWatermarkStoreFixture {
  store: CallbackWatermarkStore;
  /** Another instance on the same storage, as a second gateway process would open it. */
  another: () => Promise<CallbackWatermarkStore>;
  cleanup: () => Promise<void>;
}

export function runCallbackWatermarkStoreConformance(
  name: string,
  fixture: () => Promise<CallbackWatermarkStoreFixture>,
): void {
  describe(`CallbackWatermarkStore conformance (${name})`, () => {
    let f: CallbackWatermarkStoreFixture;
    const { opened } = storeFixturePerTest<CallbackWatermarkStore, CallbackWatermarkStoreFixture>(
      fixture,
      (fixtureNow) => {
        f = fixtureNow;
      },
    );
    const another = () => opened(() => f.another());

    it('has no watermarks before the first write, and is kept from a write that names no chain', async () => {
      expect(await f.store.read()).toBeUndefined();
      await f.store.advance(new Map());
      expect(await f.store.read()).toEqual(new Map());
      expect(await (await another()).read()).toEqual(new Map());
    });

    it('keeps the marks of several chains, and only ever raises them', async () => {
      await f.store.advance(
        new Map([
          ['main', 7],
          ['delivery.st-melde.0', 3],
        ]),
      );
      await f.store.advance(
        new Map([
          ['main', 5],
          ['delivery.st-melde.0', 4],
          ['gw-b', 1],
        ]),
      );
      expect(await f.store.read()).toEqual(
        new Map([
          ['main', 7],
          ['delivery.st-melde.0', 4],
          ['gw-b', 1],
        ]),
      );
    });

    it('holds seqs beyond 32 bits', async () => {
      await f.store.advance(new Map([['main', 2 ** 40 + 3]]));
      expect((await f.store.read())?.get('main')).toBe(2 ** 40 + 3);
    });

    it('keeps the larger mark when two instances write the same chains in any order', async () => {
      const b = await another();
      const chains = Array.from({ length: 20 }, (_, i) => `delivery.sys.${i}`);
      const writes: Promise<void>[] = [];
      for (let round = 1; round <= 10; round++) {
        // A counts up, B counts down and names the chains in reverse: their upserts cross.
        writes.push(f.store.advance(new Map(chains.map((c) => [c, round]))));
        writes.push(b.advance(new Map([...chains].reverse().map((c) => [c, 11 - round]))));
      }
      await Promise.all(writes);
      const marks = await f.store.read();
      expect(marks).toEqual(new Map(chains.map((c) => [c, 10])));
      expect(await b.read()).toEqual(marks);
    });

    it("reads one chain's mark as read() gives it: undefined before the first write, then 0 without a mark", async () => {
      expect(await f.store.readMark('main')).toBeUndefined();
      await f.store.advance(new Map());
      expect(await f.store.readMark('main')).toBe(0);
      await f.store.advance(new Map([['main', 4]]));
      expect(await f.store.readMark('main')).toBe(4);
      expect(await f.store.readMark('delivery.st-melde.0')).toBe(0);
      // Another instance's writes, and seqs beyond 32 bits.
      await (await another()).advance(new Map([['main', 2 ** 40 + 3]]));
      expect(await f.store.readMark('main')).toBe(2 ** 40 + 3);
    });

    it('reads the mark of exactly the chain asked for among 200, names sharing prefixes and case', async () => {
      const chains = ['main', 'Main', 'main ', 'gw-b', 'delivery.st-melde_test.1', 'delivery.st-melde%.1'];
      for (const system of ['st-melde', 'st-melde-test'])
        for (let p = 0; chains.length < 200; p++)
          chains.push(`delivery.${system}.${p}`, `delivery.${system}.${p}.retry`);
      const marks = new Map(chains.map((chain, i) => [chain, 1000 + i]));
      await f.store.advance(marks);
      const all = await f.store.read();
      expect(all?.size).toBe(chains.length);
      for (const chain of chains) {
        expect(await f.store.readMark(chain)).toBe(marks.get(chain));
        expect(await f.store.readMark(chain)).toBe(all?.get(chain));
      }
      for (const chain of [
        'MAIN',
        'delivery.st-melde.',
        'delivery.st-melde.1.retry.',
        'delivery.st-melde-test',
      ])
        expect(await f.store.readMark(chain)).toBe(0);
    });
  });
}
