/**
 * Issue 8 on a real Kafka broker: the per-case ordering scenario (test/e2e/delivery-order-scenario.ts)
 * with the deliver and retry topics on Kafka — every message exactly once, each case in order,
 * through refusals and an outage of the receiver. Then across processes: two gateways sharing
 * PostgreSQL (case tickets, ledger, audit) and the consumer groups, one of them stopped during the
 * outage, so that the other one takes over what it had parked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropSchema, freshSchemaName, PG_URL } from '../conformance/pg-test-schema.ts';
import {
  expectOncePerMessageInOrderPerCase,
  type FlakyReceiver,
  ORDER_TEST_ENV,
  runOrderScenario,
  startFlakyReceiver,
} from '../e2e/delivery-order-scenario.ts';
import { pushContracts, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { brokers, deleteByPrefix, uniquePrefix } from './support/kafka-run.ts';
import { removeScratchDirs, scratchDir } from './support/scratch.ts';

afterAll(removeScratchDirs);

describe('Kafka mode: delivery order per case across retries', () => {
  const prefix = uniquePrefix('order');
  let t: TestGateway;
  let receiver: FlakyReceiver;

  beforeAll(async () => {
    const dataDir = scratchDir('kafka-order');
    receiver = await startFlakyReceiver(dataDir);
    t = await startTestGateway({
      dataDir,
      contractsDir: pushContracts({ 'st-melde': receiver.url }, scratchDir('contracts')),
      env: { ...ORDER_TEST_ENV, GATEWAY_BUS: 'kafka', KAFKA_BROKERS: brokers(), KAFKA_TOPIC_PREFIX: prefix },
    });
  });
  afterAll(async () => {
    await t?.stop();
    await receiver?.close();
    await deleteByPrefix(prefix);
  });

  it('delivers every message once and each case in order, through refusals and an outage', async () => {
    expect(t.gateway.bus.kind).toBe('kafka');
    const result = await runOrderScenario(t, receiver, {
      caseCount: 4,
      perCase: 5,
      downMs: 2_000,
      timeoutMs: 60_000,
    });
    expectOncePerMessageInOrderPerCase(receiver, result);
  });
});

describe('Kafka mode with two gateways on one PostgreSQL: delivery order per case across processes', () => {
  const prefix = uniquePrefix('order2');
  const schema = freshSchemaName('order');
  let a: TestGateway;
  let b: TestGateway | undefined;
  let receiver: FlakyReceiver;

  beforeAll(async () => {
    const dataDir = scratchDir('kafka-order-2');
    receiver = await startFlakyReceiver(dataDir);
    const contractsDir = pushContracts({ 'st-melde': receiver.url }, scratchDir('contracts'));
    const env = (chain: string) => ({
      ...ORDER_TEST_ENV,
      GATEWAY_BUS: 'kafka',
      KAFKA_BROKERS: brokers(),
      KAFKA_TOPIC_PREFIX: prefix,
      DATABASE_URL: PG_URL,
      DATABASE_SCHEMA: schema,
      GATEWAY_AUDIT_CHAIN: chain,
    });
    a = await startTestGateway({ dataDir, contractsDir, env: env('gw-a') });
    b = await startTestGateway({ dataDir, contractsDir, env: env('gw-b') });
  });
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
    await receiver?.close();
    await deleteByPrefix(prefix);
    await dropSchema(schema);
  });

  it('delivers every message once and each case in order while one gateway leaves mid-way', async () => {
    expect(a.gateway.mailbox.kind).toBe('postgres');
    const result = await runOrderScenario(a, receiver, {
      caseCount: 4,
      perCase: 5,
      downMs: 2_000,
      timeoutMs: 90_000,
      duringOutage: async () => {
        await b!.stop();
        b = undefined;
      },
    });
    expectOncePerMessageInOrderPerCase(receiver, result);
  });
});
