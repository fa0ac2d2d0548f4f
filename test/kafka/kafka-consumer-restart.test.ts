/**
 * A consumer kafkajs does not restart. After a broker restart, kafkajs' FindCoordinator may fail on
 * every broker for a reason it does not retry; it then throws KafkaJSGroupCoordinatorNotFound, a
 * non-retriable error, and ends the consumer for good (tulios/kafkajs#1445, #1630) — in the broker
 * fault test, a delivery group that never consumed again. Here kafkajs' coordinator lookup is made
 * to fail exactly that way for one group, on the shared test broker, and KafkaBus must consume anyway.
 */
import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaBus } from '../../gateway/bus/kafka-bus.ts';
import { createLogger } from '../../gateway/log/logger.ts';
import type { ConsumedRecord } from '../../gateway/ports/bus.ts';
import { brokers, deleteByPrefix, uniquePrefix } from './support/kafka-run.ts';

const require = createRequire(import.meta.url);
// The modules kafka-bus.ts's kafkajs uses (one CommonJS instance per process).
const { prototype: cluster } = require('kafkajs/src/cluster/index.js') as {
  prototype: { findGroupCoordinatorMetadata(args: { groupId: string }): Promise<unknown> };
};
const { KafkaJSGroupCoordinatorNotFound } = require('kafkajs/src/errors.js') as {
  KafkaJSGroupCoordinatorNotFound: new (message: string) => Error;
};

const RUN = uniquePrefix('restart');
const logger = createLogger({
  level: process.env.KAFKA_TEST_LOG_LEVEL ?? 'silent',
  name: 'consumer-restart-test',
});

/** For `group` only: kafkajs' coordinator lookup fails as after a broker restart, `times` times. */
function failCoordinatorLookup(group: string, times: number): { calls: () => number; restore: () => void } {
  const original = cluster.findGroupCoordinatorMetadata;
  let calls = 0;
  cluster.findGroupCoordinatorMetadata = function (this: unknown, args) {
    if (args.groupId !== group) return original.call(this, args);
    calls++;
    if (calls <= times) {
      // What kafkajs' own findGroupCoordinatorMetadata throws when no broker named a coordinator.
      return Promise.reject(new KafkaJSGroupCoordinatorNotFound('Failed to find group coordinator'));
    }
    return original.call(this, args);
  };
  return {
    calls: () => calls,
    restore: () => {
      cluster.findGroupCoordinatorMetadata = original;
    },
  };
}

function newBus(): KafkaBus {
  return new KafkaBus({
    brokers: brokers().split(','),
    clientId: `${RUN}-restart`,
    replicationFactor: 1,
    defaultPartitions: 1,
    logger,
    heartbeatIntervalMs: 500,
  });
}

async function waitFor(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

afterAll(() => deleteByPrefix(RUN));

describe('a consumer that crashed with an error kafkajs does not restart from', () => {
  it('is restarted by KafkaBus and consumes', async () => {
    const topic = `${RUN}.restart`;
    const group = `${RUN}.restart-reader`;
    const lookup = failCoordinatorLookup(group, 2);
    const bus = newBus();
    const got: ConsumedRecord[] = [];
    try {
      const sub = await bus.subscribe({
        group,
        topics: [topic],
        handler: async (r) => {
          got.push(r);
        },
      });
      await bus.publish([{ topic, key: 'k', value: Buffer.from('after the crash'), headers: {} }]);
      // Two crashes: restarted after 1 s, then 2 s; kafkajs alone never consumes.
      await waitFor('the record', () => got.length === 1, 20_000);
      expect(got[0]!.value.toString()).toBe('after the crash');
      // The lookups really failed as arranged (the test exercised the crash, not a lucky join).
      expect(lookup.calls()).toBeGreaterThanOrEqual(3);
      await sub.close();
    } finally {
      lookup.restore();
      await bus.close();
    }
  }, 40_000);

  it('is not restarted once its subscription is closed', async () => {
    const topic = `${RUN}.closed`;
    const group = `${RUN}.closed-reader`;
    const lookup = failCoordinatorLookup(group, Number.POSITIVE_INFINITY);
    const bus = newBus();
    try {
      const sub = await bus.subscribe({ group, topics: [topic], handler: async () => {} });
      const started = Date.now();
      await sub.close();
      expect(Date.now() - started).toBeLessThan(5000);
      const callsAtClose = lookup.calls();
      // Past the first restart's delay (1 s): no restart tries to join again.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(lookup.calls()).toBe(callsAtClose);
    } finally {
      lookup.restore();
      await bus.close();
    }
  }, 40_000);
});
