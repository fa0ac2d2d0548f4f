/**
 * The idempotent producer after a send that failed for good. kafkajs numbers each partition's
 * batches (producer id, sequence) and takes a failed request's numbers back, to send them again. If
 * the broker had appended that request and only its answer was lost (the broker stopped, the
 * connection dropped), and kafkajs then gives up (it reconnects a bounded number of times, however
 * many retries the producer has), the next publish gets the same numbers for other records: the
 * broker takes it for a resend of the appended batch and answers success without appending it. The
 * publish resolves, the ingress answers 202, and the message is on no topic — the message the
 * broker-fault suite once lost. Here the broker really appends a record whose answer is then lost
 * with the connection, and stays out of reach until kafkajs gave up.
 */
import { createRequire } from 'node:module';
import kafkajs from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaBus } from '../../gateway/bus/kafka-bus.ts';
import { createLogger } from '../../gateway/log/logger.ts';
import { brokers, deleteByPrefix, uniquePrefix } from './support/kafka-run.ts';
import { redirectBrokerConnections } from './support/redirect-broker.ts';
import { destroyAll } from './support/socket-set.ts';

const require = createRequire(import.meta.url);
// The modules kafka-bus.ts's kafkajs uses (one CommonJS instance per process).
const { prototype: broker } = require('kafkajs/src/broker/index.js') as {
  prototype: { produce(args: { topicData: { topic: string }[] }): Promise<unknown> };
};
const { KafkaJSConnectionError } = require('kafkajs/src/errors.js') as {
  KafkaJSConnectionError: new (message: string) => Error;
};

const RUN = uniquePrefix('producer-sequence');
const logger = createLogger({
  level: process.env.KAFKA_TEST_LOG_LEVEL ?? 'silent',
  name: 'producer-sequence-test',
});

/**
 * The broker out of reach for this process: open connections to it are reset, new ones refused
 * (as while it is stopped), until up().
 */
function brokerSwitch(address: string) {
  let away = false;
  let lastRefused = 0;
  const redirect = redirectBrokerConnections(address, () => {
    if (!away) return undefined;
    lastRefused = Date.now();
    // Port 1: nothing listens there, so the connection is refused at once.
    return { port: 1 };
  });
  return {
    down() {
      away = true;
      destroyAll(redirect.sockets, Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    },
    up() {
      away = false;
    },
    /** Resolves once nobody has tried to connect for `quietMs` (kafkajs gave up). */
    async quiet(quietMs: number, timeoutMs: number) {
      const deadline = Date.now() + timeoutMs;
      while (lastRefused === 0 || Date.now() - lastRefused < quietMs) {
        if (Date.now() > deadline) throw new Error(`still reconnecting after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    restore() {
      redirect.close();
    },
  };
}

/** Every value on the topic's one partition, read from the start with a group of its own. */
async function valuesOn(topic: string, count: number): Promise<string[]> {
  const kafka = new kafkajs.Kafka({ clientId: `${RUN}-reader`, brokers: brokers().split(','), logLevel: 0 });
  const consumer = kafka.consumer({ groupId: `${RUN}.reader` });
  const values: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        values.push(message.value?.toString() ?? '');
      },
    });
    const deadline = Date.now() + 20_000;
    while (values.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  } finally {
    await consumer.disconnect();
  }
  return values;
}

afterAll(() => deleteByPrefix(RUN));

describe('KafkaBus publish after a send kafkajs gave up on', () => {
  it('appends the next records (the broker does not take them for a resend of the lost answer)', async () => {
    const topic = `${RUN}.topic`;
    const cut = brokerSwitch(brokers().split(',')[0]!);
    const { produce } = broker;
    let loseNextAnswer = false;
    let appendedUnanswered = 0;
    broker.produce = async function (this: unknown, args) {
      const answer = await produce.call(this, args);
      if (loseNextAnswer && args.topicData.some((t) => t.topic === topic)) {
        // Appended by the broker; the connection drops before its answer arrives.
        loseNextAnswer = false;
        appendedUnanswered++;
        cut.down();
        throw new KafkaJSConnectionError('Connection error: read ECONNRESET');
      }
      return answer;
    };
    const bus = new KafkaBus({
      brokers: brokers().split(','),
      clientId: `${RUN}-client`,
      replicationFactor: 1,
      defaultPartitions: 1,
      publishTimeoutMs: 2000,
      logger,
    });
    const record = (value: string) => ({ topic, key: 'one-key', value: Buffer.from(value), headers: {} });
    try {
      await bus.ensureTopics([{ name: topic, partitions: 1 }]);
      await bus.publish([record('r0')]);

      loseNextAnswer = true;
      await expect(bus.publish([record('r1')])).rejects.toMatchObject({ code: 'GW_ERR_BUS_UNAVAILABLE' });
      expect(appendedUnanswered).toBe(1);
      // Out of reach until kafkajs stopped reconnecting (10 attempts, backoff up to 2 s ± 20 %: about
      // 13 s), so the send of r1 ends failed rather than being resent once the broker is back.
      await cut.quiet(4000, 60_000);
      cut.up();

      // Acknowledged: so it must be on the topic.
      await bus.publish([record('r2')]);
      expect(await valuesOn(topic, 3)).toEqual(['r0', 'r1', 'r2']);
    } finally {
      broker.produce = produce;
      cut.restore();
      await bus.close();
    }
  }, 90_000);
});
