/**
 * gateway/bus/kafka-group-offsets.ts: the memberless offset commit. Against the real broker: a
 * commit lands in one request and is what the group's next member starts from, a group with a live
 * member is refused with an error that says so, and the one cluster is reused and closed. With a
 * cluster of the test's own: coordinator moves are retried (bounded), other errors are not. And a
 * gateway's first start on a broker that just started (a private one): KafkaBus reads and sets the
 * bookmark while the broker still makes its offsets topic (the coordinator loading, then moving).
 */
import kafkajs from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { KafkaBus } from '../../gateway/bus/kafka-bus.ts';
import {
  commitWithoutMembership,
  KafkaGroupOffsets,
  type KafkajsCluster,
} from '../../gateway/bus/kafka-group-offsets.ts';
import { GatewayError } from '../../gateway/errors/catalogue.ts';
import { type PrivateKafka, privateKafka } from '../support/private-kafka.ts';
import { brokers, deleteByPrefix, uniquePrefix } from './support/kafka-run.ts';

/** An error as kafkajs' response parser throws it for a partition's error code. */
function protocolError(type: string, code: number): Error {
  return Object.assign(new Error(`${type} from the broker`), { name: 'KafkaJSProtocolError', type, code });
}

/** A cluster whose coordinator answers the OffsetCommits with `answers` in turn (an Error is thrown). */
function scriptedCluster(answers: (Error | 'ok')[]) {
  const calls = { find: 0, commit: 0, refresh: 0, requests: [] as unknown[] };
  const cluster: KafkajsCluster = {
    connect: async () => {},
    disconnect: async () => {},
    refreshMetadata: async () => {
      calls.refresh++;
    },
    findGroupCoordinator: async () => {
      calls.find++;
      return {
        offsetCommit: async (request) => {
          calls.requests.push(request);
          const answer = answers[calls.commit++] ?? 'ok';
          if (answer !== 'ok') throw answer;
          return {};
        },
      };
    },
  };
  return { cluster, calls };
}

const noWait = async () => {};
const retry = { attempts: 4, deadlineMs: 60_000, backoffMs: 1, maxBackoffMs: 1 };

describe("commitWithoutMembership (a cluster of the test's own)", () => {
  it('sends generation -1 and an empty member id', async () => {
    const { cluster, calls } = scriptedCluster(['ok']);
    await commitWithoutMembership(cluster, 'g', 't', [{ partition: 2, offset: '7' }], retry, noWait);
    expect(calls.requests).toEqual([
      {
        groupId: 'g',
        groupGenerationId: -1,
        memberId: '',
        topics: [{ topic: 't', partitions: [{ partition: 2, offset: '7' }] }],
      },
    ]);
  });

  it('finds the coordinator again after NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE', async () => {
    const { cluster, calls } = scriptedCluster([
      protocolError('NOT_COORDINATOR_FOR_GROUP', 16),
      protocolError('GROUP_LOAD_IN_PROGRESS', 14),
      protocolError('GROUP_COORDINATOR_NOT_AVAILABLE', 15),
      'ok',
    ]);
    await commitWithoutMembership(cluster, 'g', 't', [{ partition: 0, offset: '1' }], retry, noWait);
    expect(calls).toMatchObject({ find: 4, commit: 4, refresh: 3 });
  });

  it('retries a connection lost under the request', async () => {
    const lost = Object.assign(new Error('Connection closed'), { name: 'KafkaJSConnectionClosedError' });
    const { cluster, calls } = scriptedCluster([lost, 'ok']);
    await commitWithoutMembership(cluster, 'g', 't', [{ partition: 0, offset: '1' }], retry, noWait);
    expect(calls.commit).toBe(2);
  });

  it('gives up after the bounded attempts', async () => {
    const moving = Array.from({ length: 10 }, () => protocolError('NOT_COORDINATOR_FOR_GROUP', 16));
    const { cluster, calls } = scriptedCluster(moving);
    const err = await commitWithoutMembership(
      cluster,
      'g',
      't',
      [{ partition: 0, offset: '1' }],
      retry,
      noWait,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('GW_ERR_BUS_UNAVAILABLE');
    expect((err as Error).message).toMatch(/after 4 attempts: NOT_COORDINATOR_FOR_GROUP/);
    expect(calls.commit).toBe(4);
  });

  describe("with a clock of the test's own", () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('begins no attempt after the deadline, however many attempts are left', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      const moving = Array.from({ length: 100 }, () => protocolError('GROUP_LOAD_IN_PROGRESS', 14));
      const { cluster, calls } = scriptedCluster(moving);
      const err = await commitWithoutMembership(
        cluster,
        'g',
        't',
        [{ partition: 0, offset: '1' }],
        { attempts: 100, deadlineMs: 1000, backoffMs: 300, maxBackoffMs: 300 },
        async (ms) => {
          vi.setSystemTime(Date.now() + ms);
        },
      ).catch((e: unknown) => e);
      expect((err as GatewayError).code).toBe('GW_ERR_BUS_UNAVAILABLE');
      // At 0, 300, 600 and 900 ms; a fifth would begin at 1200.
      expect(calls.commit).toBe(4);
    });
  });

  it('does not retry a partition error: the group, topic, partitions and Kafka error in the message', async () => {
    const { cluster, calls } = scriptedCluster([protocolError('UNKNOWN_TOPIC_OR_PARTITION', 3)]);
    const err = await commitWithoutMembership(
      cluster,
      'g',
      't',
      [
        { partition: 0, offset: '1' },
        { partition: 5, offset: '1' },
      ],
      retry,
      noWait,
    ).catch((e: unknown) => e);
    expect((err as GatewayError).code).toBe('GW_ERR_BUS_UNAVAILABLE');
    expect((err as Error).message).toContain('group g, topic t, partitions 0,5: UNKNOWN_TOPIC_OR_PARTITION');
    expect(calls.commit).toBe(1);
  });
});

describe('KafkaGroupOffsets (the real broker)', () => {
  const prefix = uniquePrefix('grpoffsets');
  const topic = `${prefix}.topic`;
  const config = () => ({
    clientId: `${prefix}-test`,
    brokers: brokers().split(','),
    logLevel: kafkajs.logLevel.NOTHING,
  });
  let admin: kafkajs.Admin;

  beforeAll(async () => {
    admin = new kafkajs.Kafka(config()).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    const producer = new kafkajs.Kafka(config()).producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: [0, 1, 2, 3].map((i) => ({ partition: i % 2, value: `v${i}` })),
    });
    await producer.disconnect();
  });

  afterAll(async () => {
    await admin?.disconnect();
    await deleteByPrefix(prefix);
  });

  /**
   * A member of `group`. Its fetches return after 100 ms when there is nothing to read (kafkajs:
   * 5 s), and a disconnect waits for the fetch in flight: 5 s a consumer for nothing this tests.
   */
  const member = (group: string) =>
    new kafkajs.Kafka(config()).consumer({ groupId: group, maxWaitTimeInMs: 100 });

  const committed = async (group: string) =>
    (await admin.fetchOffsets({ groupId: group, topics: [topic] }))[0]!.partitions
      .map((p) => ({ partition: p.partition, offset: p.offset }))
      .sort((a, b) => a.partition - b.partition);

  it('commits for a group nobody joined, moves it again, and a new member starts there', async () => {
    const offsets = new KafkaGroupOffsets(config());
    const group = `${prefix}.bookmark`;
    try {
      await offsets.commit(group, topic, [
        { partition: 0, offset: '1' },
        { partition: 1, offset: '2' },
      ]);
      expect(await committed(group)).toEqual([
        { partition: 0, offset: '1' },
        { partition: 1, offset: '2' },
      ]);
      await offsets.commit(group, topic, [{ partition: 0, offset: '2' }]);
      expect(await committed(group)).toEqual([
        { partition: 0, offset: '2' },
        { partition: 1, offset: '2' },
      ]);
    } finally {
      await offsets.close();
    }
    const producer = new kafkajs.Kafka(config()).producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ partition: 0, value: 'after' }] });
    await producer.disconnect();
    const consumer = member(group);
    const seen: string[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          seen.push(String(message.value));
        },
      });
      const deadline = Date.now() + 30_000;
      while (seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      // Had the records below the commit been handed out, they would have come first.
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await consumer.disconnect();
    }
    expect(seen).toEqual(['after']);
  });

  it('is refused, with an error that says why, while the group has a live member; accepted once it left', async () => {
    const group = `${prefix}.live`;
    const consumer = member(group);
    let joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      joined = true;
    });
    await consumer.connect();
    const offsets = new KafkaGroupOffsets(config());
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({ eachMessage: async () => {} });
      const deadline = Date.now() + 30_000;
      while (!joined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(joined).toBe(true);
      const err = await offsets
        .commit(group, topic, [{ partition: 0, offset: '0' }])
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GatewayError);
      expect((err as Error).message).toMatch(
        new RegExp(
          `group ${group.replaceAll('.', '\\.')}, topic .*: UNKNOWN_MEMBER_ID \\(the group has live members`,
        ),
      );
      await consumer.disconnect();
      await offsets.commit(group, topic, [{ partition: 0, offset: '0' }]);
      expect((await committed(group))[0]).toEqual({ partition: 0, offset: '0' });
    } finally {
      await consumer.disconnect();
      await offsets.close();
    }
  });

  it('refuses to commit once closed', async () => {
    const offsets = new KafkaGroupOffsets(config());
    await offsets.close();
    await expect(offsets.commit(`${prefix}.closed`, topic, [{ partition: 0, offset: '0' }])).rejects.toThrow(
      /closed/,
    );
  });
});

describe('the bookmark on a broker that just started (a private broker)', () => {
  let kafka: PrivateKafka | undefined;
  beforeAll(async () => {
    kafka = await privateKafka();
    await kafka.start();
  }, 300_000);
  afterAll(async () => {
    await kafka?.destroy();
  }, 120_000);

  it("KafkaBus reads groups' offsets and commits them at once after the start", async () => {
    const bus = new KafkaBus({
      brokers: kafka!.brokers.split(','),
      clientId: 'fresh-broker',
      replicationFactor: 1,
      defaultPartitions: 2,
    });
    const topic = 'fresh.deliver.a';
    // Groups on every partition of the offsets topic (four here), each with a coordinator loading.
    const groups = Array.from({ length: 8 }, (_, i) => `fresh.ingress-audit.chain-${i}`);
    try {
      await bus.ensureTopics([{ name: topic, partitions: 2 }]);
      const offsets = await Promise.all(groups.map((group) => bus.offsets(group, topic)));
      for (const o of offsets)
        expect(o).toEqual([
          { partition: 0, end: '0', committed: null },
          { partition: 1, end: '0', committed: null },
        ]);
      await Promise.all(
        groups.map((group) =>
          bus.commitOffsets(group, topic, [
            { partition: 0, offset: '0' },
            { partition: 1, offset: '0' },
          ]),
        ),
      );
      for (const group of groups) {
        expect((await bus.offsets(group, topic)).map((o) => o.committed)).toEqual(['0', '0']);
        expect((await bus.lag(group, topic)).map((l) => l.lag)).toEqual([0, 0]);
      }
    } finally {
      await bus.close();
    }
  });
});
