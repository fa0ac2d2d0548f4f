/**
 * Issue 8 on the embedded SQLite bus: a push receiver that refuses some messages and then is down
 * for a while gets every message exactly once, and the messages of each case in order — a later
 * message of a case never overtakes one parked for retry — while the audit trail says so. A case
 * whose parked head is dead-lettered goes on with the rest, in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rueckmeldung } from '../support/fixtures.ts';
import {
  eventually,
  pushContracts,
  startTestGateway,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';
import {
  expectOncePerMessageInOrderPerCase,
  type FlakyReceiver,
  ORDER_TEST_ENV,
  runOrderScenario,
  startFlakyReceiver,
} from './delivery-order-scenario.ts';

describe('delivery order per case across retries (SQLite bus)', () => {
  let t: TestGateway;
  let receiver: FlakyReceiver;

  beforeAll(async () => {
    const dataDir = tempDir('order');
    receiver = await startFlakyReceiver(dataDir);
    t = await startTestGateway({
      dataDir,
      contractsDir: pushContracts({ 'st-melde': receiver.url }),
      env: ORDER_TEST_ENV,
    });
  });
  afterAll(async () => {
    await t?.stop();
    await receiver?.close();
  });

  it('delivers every message once and each case in order, through refusals and an outage', async () => {
    const result = await runOrderScenario(t, receiver, {
      caseCount: 4,
      perCase: 5,
      downMs: 2_000,
      timeoutMs: 40_000,
    });
    expectOncePerMessageInOrderPerCase(receiver, result);

    // The audit trail: one delivered and one acknowledged event per message, and for each case the
    // deliveries in the order of the case.
    const delivered = await t.gateway.auditStore.query({ kind: 'delivered', limit: 10_000 });
    const acknowledged = await t.gateway.auditStore.query({ kind: 'acknowledged', limit: 10_000 });
    for (const ids of result.cases) {
      for (const id of ids) {
        expect(delivered.filter((e) => e.messageId === id)).toHaveLength(1);
        expect(acknowledged.filter((e) => e.messageId === id)).toHaveLength(1);
      }
      const times = ids.map((id) => delivered.find((e) => e.messageId === id)!.time);
      expect([...times].sort()).toEqual(times);
    }
    // Delivery events live in the chains of st-melde's topic-partitions: a message the receiver
    // refused was delivered from the retry topic, whose partitions have chains of their own.
    const ours = result.cases.flat();
    const chainOf = (id: string) => delivered.find((e) => e.messageId === id)!.chain;
    expect(ours.every((id) => /^delivery\.st-melde\.[01](\.retry)?$/.test(chainOf(id)))).toBe(true);
    const refused = ours.filter((id) => (receiver.refusals.get(id) ?? 0) > 0);
    expect(refused.length).toBeGreaterThan(0);
    for (const id of refused) expect(chainOf(id)).toMatch(/^delivery\.st-melde\.[01]\.retry$/);
    // Their failed first attempts came from the deliver topic, on its partitions' chains.
    const attempted = await t.gateway.auditStore.query({ kind: 'delivery-attempted', limit: 10_000 });
    const attemptChains = new Set(
      attempted.filter((e) => refused.includes(e.messageId!)).map((e) => e.chain),
    );
    expect([...attemptChains].some((c) => /^delivery\.st-melde\.[01]$/.test(c))).toBe(true);
  });

  it('goes on with a case whose parked head is dead-lettered: the rest arrives, in order', async () => {
    const sn = t.client('sn-melde');
    const caseId = crypto.randomUUID();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const msg = rueckmeldung((doc) => {
        doc.vorgang.bezugId = caseId;
      });
      // The head is refused for now (parked, the others wait behind it), then for good (400).
      if (i === 0) receiver.scripted.set(msg.id, [503, 400]);
      // The next one is refused twice more once it is the case's head.
      if (i === 1) receiver.flaky.set(msg.id, 2);
      expect((await sn.send('sn-melde', msg.body, 'application/json')).status).toBe(202);
      ids.push(msg.id);
    }
    const rest = ids.slice(1);
    await eventually(
      async () => {
        const got = new Set(receiver.accepted.map((r) => r.messageId));
        return rest.every((id) => got.has(id)) ? true : undefined;
      },
      30_000,
      'the rest of the case',
    );
    await new Promise((r) => setTimeout(r, 1_000));
    const inCase = new Set(ids);
    expect(receiver.accepted.map((r) => r.messageId).filter((id) => inCase.has(id))).toEqual(rest);
    expect(receiver.refusals.get(ids[0]!)).toBe(2);
    expect(receiver.refusals.get(ids[1]!)).toBe(2);
    // Nobody overtook: each message was first tried after the one before it was settled.
    const settledAt = (id: string) =>
      receiver.log.findLastIndex((e) => e.messageId === id && (e.status < 300 || e.status === 400));
    const firstTry = (id: string) => receiver.log.findIndex((e) => e.messageId === id);
    for (let k = 0; k + 1 < ids.length; k++)
      expect(firstTry(ids[k + 1]!)).toBeGreaterThan(settledAt(ids[k]!));
    const dead = await t.gateway.auditStore.query({ messageId: ids[0]!, kind: 'dead-lettered' });
    expect(dead).toHaveLength(1);
    // Dead-lettered by the retry consumer, on its partition's chain.
    expect(dead[0]!.chain).toMatch(/^delivery\.st-melde\.[01]\.retry$/);
    // The head was dead-lettered before the rest of its case was delivered.
    const delivered = await t.gateway.auditStore.query({ kind: 'delivered', limit: 10_000 });
    for (const id of rest)
      expect(delivered.find((e) => e.messageId === id)!.time >= dead[0]!.time).toBe(true);
  });
});
