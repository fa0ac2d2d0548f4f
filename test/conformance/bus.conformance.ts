/**
 * The Bus port's conformance suite: what gateway/ports/bus.ts promises, proved against any
 * implementation (SQLite here, Kafka against a real broker).
 *
 * Usage:
 *
 *   runBusConformance('SqliteBus', async () => ({ bus, newBus, cleanup }));
 *
 * - `bus`: a ready instance.
 * - `newBus()`: a SECOND, independent instance on the same storage/cluster (another connection,
 *   another client), used for consumer-group sharing between members.
 * - `cleanup()`: removes the storage (temp file, topics …). The suite closes `bus` and every
 *   `newBus()` instance itself before calling it, so `cleanup` must not close them again.
 *
 * `factory` runs once per suite (beforeAll). Every test uses its own topics and groups (random
 * suffix) and creates topics with `ensureTopics` before use. A new group starts at the beginning of
 * the topic. Waits poll with generous bounds and assume no timing beyond the port's semantics.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type {
  Bus,
  BusRecord,
  ConsumedRecord,
  SubscribeOptions,
  Subscription,
} from '../../gateway/ports/bus.ts';

export interface BusFixture {
  bus: Bus;
  newBus: () => Promise<Bus>;
  cleanup: () => Promise<void>;
}

const TEST_TIMEOUT_MS = 60_000;
const WAIT_TIMEOUT_MS = 30_000;

const suffix = () => randomUUID().slice(0, 8);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = WAIT_TIMEOUT_MS,
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Records carry their identity in a header so the tests need not parse values. */
function record(topic: string, key: string, id: string, extra: Record<string, string> = {}): BusRecord {
  return { topic, key, value: Buffer.from(`value of ${id}`), headers: { id, ...extra } };
}

const idOf = (r: ConsumedRecord) => r.headers.id!;

export function runBusConformance(name: string, factory: () => Promise<BusFixture>): void {
  describe(name, () => {
    let fixture: BusFixture | undefined;
    let bus: Bus;
    const extraBuses: Bus[] = [];
    const open = new Set<Subscription>();

    beforeAll(async () => {
      fixture = await factory();
      bus = fixture.bus;
    });

    afterEach(async () => {
      await Promise.allSettled([...open].map((s) => s.close()));
      open.clear();
    });

    afterAll(async () => {
      await Promise.allSettled(extraBuses.map((b) => b.close()));
      if (fixture) {
        await fixture.bus.close();
        await fixture.cleanup();
      }
    });

    const topicName = () => `conf-${suffix()}`;
    const groupName = () => `group-${suffix()}`;

    const anotherBus = async () => {
      const b = await fixture!.newBus();
      extraBuses.push(b);
      return b;
    };

    const subscribe = async (on: Bus, options: SubscribeOptions) => {
      const s = await on.subscribe(options);
      open.add(s);
      return s;
    };

    const unsubscribe = async (s: Subscription) => {
      open.delete(s);
      await s.close();
    };

    const totalLag = async (group: string, topic: string) =>
      (await bus.lag(group, topic)).reduce((sum, l) => sum + l.lag, 0);

    /**
     * Two members joined before the measured records are published: publish small warm-up batches
     * until each member has handled something (so both own partitions) and the warm-up is consumed.
     */
    async function settle(topic: string, a: Map<string, number>, b: Map<string, number>) {
      const warmup: string[] = [];
      const seen = (id: string) => a.has(id) || b.has(id);
      const deadline = Date.now() + WAIT_TIMEOUT_MS;
      while (
        ![...a.keys()].some((id) => id.startsWith('warmup')) ||
        ![...b.keys()].some((id) => id.startsWith('warmup'))
      ) {
        if (Date.now() > deadline) throw new Error('timed out waiting for both members to own partitions');
        const batch = Array.from({ length: 20 }, () =>
          record(topic, `warm-${suffix()}`, `warmup-${suffix()}`),
        );
        warmup.push(...batch.map((r) => r.headers.id!));
        await bus.publish(batch);
        await sleep(250);
      }
      await waitFor('the warm-up records to be consumed', () => warmup.every(seen));
    }

    const counter = (into: Map<string, number>) => async (r: ConsumedRecord) => {
      into.set(idOf(r), (into.get(idOf(r)) ?? 0) + 1);
    };

    /** A fresh topic, created before use. */
    const newTopic = async (partitions: number) => {
      const topic = topicName();
      await bus.ensureTopics([{ name: topic, partitions }]);
      return topic;
    };

    /** `count` ids `${prefix}${i}`, published at once; `keyOf` spreads them over keys. */
    const publishIds = async (
      topic: string,
      count: number,
      prefix: string,
      keyOf: (id: string, i: number) => string,
    ) => {
      const ids = Array.from({ length: count }, (_, i) => `${prefix}${i}`);
      await bus.publish(ids.map((id, i) => record(topic, keyOf(id, i), id)));
      return ids;
    };

    const everythingCommitted = (group: string, topic: string) =>
      waitFor('the group to commit everything', async () => (await totalLag(group, topic)) === 0);

    /** Every test may wait for a broker (rebalances, commits): one generous bound for all. */
    const conformance = (title: string, body: () => Promise<void>) => it(title, body, TEST_TIMEOUT_MS);

    conformance(
      'delivers published records to a new group with key, value bytes and headers intact',
      async () => {
        const topic = await newTopic(3);
        const sent: BusRecord[] = [
          {
            topic,
            key: 'case-1',
            value: Buffer.from([0, 1, 2, 0x7f, 0x80, 0xfe, 0xff, 0]),
            headers: { id: 'a', 'content-type': 'application/xml', 'x-message-id': randomUUID() },
          },
          {
            topic,
            key: 'Fall ä/€ 2',
            value: Buffer.from('<nachricht>Grüße</nachricht>'),
            headers: { id: 'b' },
          },
          {
            topic,
            key: 'case-3',
            value: randomBytes(64 * 1024),
            headers: { id: 'c', leer: '', zwei: 'zwei' },
          },
        ];
        const before = Date.now();
        await bus.publish(sent);

        const got = new Map<string, ConsumedRecord>();
        await subscribe(bus, {
          group: groupName(),
          topics: [topic],
          handler: async (r) => {
            got.set(idOf(r), r);
          },
        });
        await waitFor('3 records', () => got.size === 3);

        for (const s of sent) {
          const r = got.get(s.headers.id!)!;
          expect(r.topic).toBe(topic);
          expect(r.key).toBe(s.key);
          expect(Buffer.compare(Buffer.from(r.value), s.value)).toBe(0);
          expect(r.headers).toEqual(s.headers);
          expect(Number.isInteger(r.partition)).toBe(true);
          expect(r.partition).toBeGreaterThanOrEqual(0);
          expect(r.partition).toBeLessThan(3);
          expect(r.offset).toMatch(/^\d+$/);
          // Generous: a broker's clock may differ a little from ours.
          expect(r.timestamp).toBeGreaterThan(before - 60_000);
          expect(r.timestamp).toBeLessThan(Date.now() + 60_000);
        }
      },
    );

    conformance('keeps publish order per key (200 records over 10 keys)', async () => {
      const topic = await newTopic(4);
      const keys = Array.from({ length: 10 }, (_, i) => `key-${i}`);
      const all = Array.from({ length: 200 }, (_, i) =>
        record(topic, keys[i % 10]!, `r${i}`, { seq: String(i) }),
      );
      for (let i = 0; i < all.length; i += 20) await bus.publish(all.slice(i, i + 20));

      const perKey = new Map<string, number[]>();
      const partitionOfKey = new Map<string, Set<number>>();
      let total = 0;
      await subscribe(bus, {
        group: groupName(),
        topics: [topic],
        handler: async (r) => {
          total++;
          perKey.set(r.key, [...(perKey.get(r.key) ?? []), Number(r.headers.seq)]);
          partitionOfKey.set(r.key, (partitionOfKey.get(r.key) ?? new Set()).add(r.partition));
        },
      });
      await waitFor('200 records', () => total >= 200);

      for (const [index, key] of keys.entries()) {
        const expected = Array.from({ length: 20 }, (_, j) => index + 10 * j);
        expect(perKey.get(key)).toEqual(expected);
        expect(partitionOfKey.get(key)?.size).toBe(1);
      }
    });

    conformance(
      'hands a failed record again after redeliveryDelayMs, and nothing behind it overtakes it',
      async () => {
        const topic = await newTopic(1);
        await publishIds(topic, 6, 'r', (_, i) => `k${i}`);

        const attempts: string[] = [];
        const attemptTimes: number[] = [];
        const handled: string[] = [];
        let failures = 0;
        const redeliveryDelayMs = 200;
        await subscribe(bus, {
          group: groupName(),
          topics: [topic],
          redeliveryDelayMs,
          handler: async (r) => {
            attempts.push(idOf(r));
            if (idOf(r) === 'r2') attemptTimes.push(Date.now());
            if (idOf(r) === 'r2' && failures < 2) {
              failures++;
              throw new Error('simulated handler failure');
            }
            handled.push(idOf(r));
          },
        });
        await waitFor('all 6 records handled', () => handled.length >= 6);
        await sleep(redeliveryDelayMs * 2);

        expect(attempts).toEqual(['r0', 'r1', 'r2', 'r2', 'r2', 'r3', 'r4', 'r5']);
        expect(handled).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5']);
        // Timer slack only; the port promises the record is handed again *after* the delay.
        expect(attemptTimes[1]! - attemptTimes[0]!).toBeGreaterThanOrEqual(redeliveryDelayMs - 20);
        expect(attemptTimes[2]! - attemptTimes[1]!).toBeGreaterThanOrEqual(redeliveryDelayMs - 20);
      },
    );

    conformance(
      'commits handled records: after close, the group resumes behind them and never redelivers them',
      async () => {
        const topic = await newTopic(2);
        const group = groupName();
        const ids = await publishIds(topic, 40, 'r', (id) => `key-${id}`);

        const first = new Set<string>();
        let closing: Promise<void> | undefined;
        let firstClosed = false;
        let handledAfterClose = 0;
        const sub1: Subscription = await subscribe(bus, {
          group,
          topics: [topic],
          handler: async (r) => {
            if (firstClosed) handledAfterClose++;
            await sleep(5);
            first.add(idOf(r));
            if (first.size >= 10) closing ??= unsubscribe(sub1);
          },
        });
        await waitFor('the first subscriber to close', () => closing !== undefined);
        await closing;
        firstClosed = true;
        const committed = new Set(first);
        expect(committed.size).toBeGreaterThanOrEqual(10);
        expect(committed.size).toBeLessThan(40);

        const second = new Map<string, number>();
        await subscribe(bus, { group, topics: [topic], handler: counter(second) });
        await waitFor('the remaining records', () => ids.every((id) => committed.has(id) || second.has(id)));
        await everythingCommitted(group, topic);

        expect(handledAfterClose).toBe(0);
        for (const id of committed)
          expect(second.has(id), `${id} was committed, then redelivered`).toBe(false);
      },
    );

    conformance('gives each consumer group every record independently', async () => {
      const topic = await newTopic(3);
      const ids = await publishIds(topic, 30, 'r', (id) => `key-${id}`);

      const a = new Map<string, number>();
      const b = new Map<string, number>();
      await subscribe(bus, { group: groupName(), topics: [topic], handler: counter(a) });
      await subscribe(bus, { group: groupName(), topics: [topic], handler: counter(b) });
      await waitFor('both groups to get every record', () => ids.every((id) => a.has(id) && b.has(id)));
    });

    conformance(
      'shares a topic between two members of one group: complete, each record handled once, both busy',
      async () => {
        const topic = await newTopic(4);
        const group = groupName();
        const other = await anotherBus();
        const a = new Map<string, number>();
        const b = new Map<string, number>();
        await subscribe(bus, { group, topics: [topic], handler: counter(a) });
        await subscribe(other, { group, topics: [topic], handler: counter(b) });
        await settle(topic, a, b);

        const ids = await publishIds(topic, 200, 'main-', (_, i) => `key-${i % 100}`);
        await waitFor('every record by one of the members', () => ids.every((id) => a.has(id) || b.has(id)));
        await everythingCommitted(group, topic);

        for (const id of ids) expect((a.get(id) ?? 0) + (b.get(id) ?? 0), id).toBe(1);
        expect(ids.filter((id) => a.has(id)).length).toBeGreaterThan(0);
        expect(ids.filter((id) => b.has(id)).length).toBeGreaterThan(0);
      },
    );

    conformance('hands the partitions of a member that closes to the remaining member', async () => {
      const topic = await newTopic(4);
      const group = groupName();
      const other = await anotherBus();
      const a = new Map<string, number>();
      const b = new Map<string, number>();
      const partitionsOfA = new Set<number>();
      const partitionsOfB = new Set<number>();
      const subA = await subscribe(bus, {
        group,
        topics: [topic],
        handler: async (r) => {
          // Slow, so it is closed with most of its share still unhandled.
          await sleep(20);
          partitionsOfA.add(r.partition);
          await counter(a)(r);
        },
      });
      await subscribe(other, {
        group,
        topics: [topic],
        handler: async (r) => {
          if (idOf(r).startsWith('main')) partitionsOfB.add(r.partition);
          await counter(b)(r);
        },
      });
      await settle(topic, a, b);
      partitionsOfA.clear();

      const ids = await publishIds(topic, 200, 'main-', (_, i) => `key-${i % 100}`);
      await waitFor('the slow member to handle some', () => ids.filter((id) => a.has(id)).length >= 3);
      await unsubscribe(subA);
      const handledByA = new Set(ids.filter((id) => a.has(id)));
      const takenOver = new Set(partitionsOfA);

      await waitFor('the remaining member to get the rest', () => ids.every((id) => a.has(id) || b.has(id)));
      await everythingCommitted(group, topic);

      expect(handledByA.size).toBeLessThan(ids.length);
      for (const id of handledByA) expect(b.has(id), `${id} was committed by the closed member`).toBe(false);
      for (const partition of takenOver)
        expect(partitionsOfB.has(partition), `partition ${partition}`).toBe(true);
    });

    conformance('reports lag per partition and drops it to 0 after consumption', async () => {
      const topic = await newTopic(2);
      const group = groupName();
      await publishIds(topic, 10, 'r', (_, i) => `key-${i}`);

      const lag = await bus.lag(group, topic);
      expect(lag.map((l) => l.partition).sort()).toEqual([0, 1]);
      for (const l of lag) expect(l.topic).toBe(topic);
      expect(lag.reduce((sum, l) => sum + l.lag, 0)).toBe(10);

      const got = new Map<string, number>();
      await subscribe(bus, { group, topics: [topic], handler: counter(got) });
      await waitFor('lag 0', async () => (await totalLag(group, topic)) === 0);
      expect(got.size).toBe(10);
    });

    conformance("reports each partition's end and a group's commit (null before any)", async () => {
      const group = groupName();
      expect(await bus.offsets(group, topicName())).toEqual([]);
      const topic = await newTopic(2);
      expect(await bus.offsets(group, topic)).toEqual([
        { partition: 0, end: '0', committed: null },
        { partition: 1, end: '0', committed: null },
      ]);
      await publishIds(topic, 10, 'o', (_, i) => `key-${i}`);
      const ends = await bus.offsets(group, topic);
      expect(ends.map((o) => o.committed)).toEqual([null, null]);
      expect(ends.reduce((sum, o) => sum + Number(o.end), 0)).toBe(10);

      const got = new Map<string, number>();
      const s = await subscribe(bus, { group, topics: [topic], handler: counter(got) });
      await everythingCommitted(group, topic);
      await unsubscribe(s);
      const after = await bus.offsets(group, topic);
      for (const o of after) if (o.end !== '0') expect(o.committed).toBe(o.end);
    });

    conformance('starts a group at offsets committed without consuming (a bookmark)', async () => {
      const topic = await newTopic(1);
      const group = groupName();
      await publishIds(topic, 5, 'b', () => 'one-key');
      await bus.commitOffsets(group, topic, [{ partition: 0, offset: '3' }]);
      expect(await bus.offsets(group, topic)).toEqual([{ partition: 0, end: '5', committed: '3' }]);
      expect(await totalLag(group, topic)).toBe(2);

      const got = new Map<string, number>();
      const s = await subscribe(bus, { group, topics: [topic], handler: counter(got) });
      await waitFor('the records after the bookmark', () => got.size === 2);
      await everythingCommitted(group, topic);
      await unsubscribe(s);
      await sleep(200);
      expect([...got.keys()].sort()).toEqual(['b3', 'b4']);
      // Moved on by hand again, the next subscriber starts there.
      await bus.commitOffsets(group, topic, [{ partition: 0, offset: '5' }]);
      await bus.publish([record(topic, 'one-key', 'b5')]);
      const next = new Map<string, number>();
      await subscribe(bus, { group, topics: [topic], handler: counter(next) });
      await waitFor('the record after the moved bookmark', () => next.size === 1);
      expect([...next.keys()]).toEqual(['b5']);
    });

    conformance("commits one group's bookmark on several topics in a row", async () => {
      const topics = [await newTopic(2), await newTopic(1), await newTopic(1)];
      const group = groupName();
      const ids = new Map<string, string[]>();
      for (const [t, topic] of topics.entries())
        ids.set(topic, await publishIds(topic, 4, `t${t}-`, () => 'one-key'));
      // Every record but the last of each topic behind the bookmark.
      for (const topic of topics) {
        const ends = await bus.offsets(group, topic);
        await bus.commitOffsets(
          group,
          topic,
          ends.map((o) => ({
            partition: o.partition,
            offset: o.end === '0' ? '0' : String(Number(o.end) - 1),
          })),
        );
      }
      for (const topic of topics) {
        const offsets = await bus.offsets(group, topic);
        expect(offsets.every((o) => o.committed === (o.end === '0' ? '0' : String(Number(o.end) - 1)))).toBe(
          true,
        );
        expect(await totalLag(group, topic)).toBe(1);
      }

      const got = new Map<string, number>();
      await subscribe(bus, { group, topics, handler: counter(got) });
      await waitFor('the last record of each topic', () => got.size === 3);
      for (const topic of topics) await everythingCommitted(group, topic);
      await sleep(200);
      expect([...got.keys()].sort()).toEqual(topics.map((t) => ids.get(t)!.at(-1)!).sort());
    });

    conformance('moves the bookmark of a group whose subscriber left', async () => {
      const topic = await newTopic(1);
      const group = groupName();
      await publishIds(topic, 2, 'before', () => 'one-key');
      const first = new Map<string, number>();
      const s = await subscribe(bus, { group, topics: [topic], handler: counter(first) });
      await waitFor('the first records', () => first.size === 2);
      await everythingCommitted(group, topic);
      await unsubscribe(s);

      await publishIds(topic, 3, 'after', () => 'one-key');
      expect(await bus.offsets(group, topic)).toEqual([{ partition: 0, end: '5', committed: '2' }]);
      await bus.commitOffsets(group, topic, [{ partition: 0, offset: '4' }]);
      expect(await bus.offsets(group, topic)).toEqual([{ partition: 0, end: '5', committed: '4' }]);

      const next = new Map<string, number>();
      await subscribe(bus, { group, topics: [topic], handler: counter(next) });
      await waitFor('the record past the moved bookmark', () => next.size === 1);
      await everythingCommitted(group, topic);
      await sleep(200);
      expect([...next.keys()]).toEqual(['after2']);
    });

    conformance('is healthy', async () => {
      const health = await bus.health();
      expect(health.ok).toBe(true);
      expect(typeof health.detail).toBe('string');
    });

    conformance(
      'resolves 1000 concurrent publishes, and one group consumes each record exactly once',
      async () => {
        const topic = await newTopic(4);
        const group = groupName();
        const ids = Array.from({ length: 1000 }, (_, i) => `r${i}`);
        await Promise.all(ids.map((id, i) => bus.publish([record(topic, `key-${i % 50}`, id)])));

        const got = new Map<string, number>();
        await subscribe(bus, { group, topics: [topic], handler: counter(got) });
        await waitFor('1000 records', () => got.size === 1000);
        await everythingCommitted(group, topic);
        expect([...got.values()].every((n) => n === 1)).toBe(true);
        expect(ids.every((id) => got.has(id))).toBe(true);
      },
    );
  });
}
