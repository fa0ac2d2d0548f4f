/**
 * A consumer's offset commits and its fetches. kafkajs fetches again only once every batch of the
 * last fetch is done; a batch that waited for its commit's round trip held up the records of every
 * partition of the consumer (in the benchmark, a large part of a record's wait at low load). Here the
 * OffsetCommit requests of one group are held back at kafkajs' broker client until the test lets
 * them go: records keep being handled meanwhile, and close() still waits for the held commits
 * before it leaves the group, so none of them is lost.
 */
import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaBus } from '../../gateway/bus/kafka-bus.ts';
import { createLogger } from '../../gateway/log/logger.ts';
import { brokers, deleteByPrefix, uniquePrefix } from './support/kafka-run.ts';

const require = createRequire(import.meta.url);
// The module kafka-bus.ts's kafkajs uses (one CommonJS instance per process).
const { prototype: broker } = require('kafkajs/src/broker/index.js') as {
  prototype: {
    offsetCommit(args: { groupId: string }): Promise<unknown>;
    leaveGroup(args: { groupId: string }): Promise<unknown>;
  };
};

const RUN = uniquePrefix('commit-overlap');
const logger = createLogger({
  level: process.env.KAFKA_TEST_LOG_LEVEL ?? 'silent',
  name: 'commit-overlap-test',
});

/**
 * For `group` only: OffsetCommit requests wait until release(); held() counts those that arrived,
 * leftWhileHeld() tells whether the consumer sent LeaveGroup while one was still held back.
 */
function holdCommits(group: string) {
  const { offsetCommit, leaveGroup } = broker;
  let held = 0;
  let released = false;
  let leftWhileHeld = false;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = () => {
      released = true;
      resolve();
    };
  });
  broker.offsetCommit = async function (this: unknown, args) {
    if (args.groupId === group) {
      held++;
      await gate;
    }
    return offsetCommit.call(this, args);
  };
  broker.leaveGroup = function (this: unknown, args) {
    if (args.groupId === group && held > 0 && !released) leftWhileHeld = true;
    return leaveGroup.call(this, args);
  };
  return {
    held: () => held,
    leftWhileHeld: () => leftWhileHeld,
    release,
    restore: () => {
      broker.offsetCommit = offsetCommit;
      broker.leaveGroup = leaveGroup;
    },
  };
}

function newBus(): KafkaBus {
  return new KafkaBus({
    brokers: brokers().split(','),
    clientId: `${RUN}-client`,
    replicationFactor: 1,
    defaultPartitions: 1,
    logger,
  });
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const record = (topic: string, id: string) => ({
  topic,
  key: 'one-key',
  value: Buffer.from(id),
  headers: { id },
});

afterAll(() => deleteByPrefix(RUN));

describe('KafkaBus offset commits', () => {
  it('do not hold up the next records; close() waits for them before it leaves the group', async () => {
    const topic = `${RUN}.topic`;
    const group = `${RUN}.reader`;
    const commits = holdCommits(group);
    const bus = newBus();
    const handled: string[] = [];
    try {
      await bus.ensureTopics([{ name: topic, partitions: 1 }]);
      const sub = await bus.subscribe({
        group,
        topics: [topic],
        handler: async (r) => {
          handled.push(r.headers.id!);
        },
      });
      await bus.publish([record(topic, 'r0')]);
      await waitFor('r0 handled and its commit held', () => handled.length === 1 && commits.held() === 1);

      // The same partition, one record behind: handled while r0's commit is still held.
      await bus.publish([record(topic, 'r1')]);
      await waitFor('r1 handled while the first commit is held', () => handled.length === 2);
      expect(handled).toEqual(['r0', 'r1']);
      expect(await bus.offsets(group, topic)).toEqual([{ partition: 0, end: '2', committed: null }]);

      const closing = sub.close();
      // Longer than close() takes to leave the group when it does not wait (kafkajs first ends
      // the fetch in flight: maxWaitTimeMs, 500 ms); with the commits waited for, the release
      // is what lets close() go on.
      setTimeout(commits.release, 2000);
      await closing;
      expect(commits.leftWhileHeld()).toBe(false);
      // Both records' commits went out before the consumer left the group.
      expect(await bus.offsets(group, topic)).toEqual([{ partition: 0, end: '2', committed: '2' }]);
    } finally {
      commits.release();
      commits.restore();
      await bus.close();
    }
  }, 60_000);
});
