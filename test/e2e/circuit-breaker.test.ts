/**
 * Issue 8, push circuit breaker: a real mTLS push receiver that is down for a while. The number of
 * pushes it sees while down is bounded by the breaker (a few failures to trip it, the pushes that
 * were already under way, then one probe per cool-down), not by the number of parked records; the
 * breaker's state is a gauge at /metrics; records refused by the open breaker carry an audited
 * reason and do not use up attempts; another receiving system is served meanwhile; after recovery
 * every message arrives once, in order per case.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auswertung, rueckmeldung } from '../support/fixtures.ts';
import {
  eventually,
  pushContracts,
  startTestGateway,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';
import { scraperAuth } from '../support/metrics-scrape.ts';
import { type FlakyReceiver, startFlakyReceiver } from './delivery-order-scenario.ts';

const PARTITIONS = 2;
const TRIP_AFTER = 3;
const COOL_DOWN_MS = 1_500;

async function breakerGauge(t: TestGateway): Promise<number | undefined> {
  const metrics = String(
    (await t.client(null).call<string>('GET', '/metrics', undefined, await scraperAuth(t.gateway))).body,
  );
  const line = metrics.split('\n').find((l) => l.startsWith('gateway_push_breaker_state{system="st-melde"}'));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

describe('push circuit breaker (SQLite bus, real HTTPS receiver)', () => {
  let t: TestGateway;
  let receiver: FlakyReceiver;

  beforeAll(async () => {
    const dataDir = tempDir('breaker');
    receiver = await startFlakyReceiver(dataDir);
    t = await startTestGateway({
      dataDir,
      contractsDir: pushContracts({ 'st-melde': receiver.url }),
      env: {
        GATEWAY_BUS_PARTITIONS: String(PARTITIONS),
        // Without the breaker each parked head would come back every 150–600 ms.
        GATEWAY_RETRY_BASE_DELAY_MS: '150',
        GATEWAY_RETRY_MAX_DELAY_MS: '600',
        GATEWAY_BREAKER_CONSECUTIVE_FAILURES: String(TRIP_AFTER),
        GATEWAY_BREAKER_COOL_DOWN_MS: String(COOL_DOWN_MS),
      },
    });
  });
  afterAll(async () => {
    await t?.stop();
    await receiver?.close();
  });

  it('bounds the pushes at a dead receiver, parks without using attempts, then delivers everything once in order', async () => {
    const sn = t.client('sn-melde');
    const caseCount = 8;
    const perCase = 3;
    const cases: string[][] = Array.from({ length: caseCount }, () => []);
    const caseIds = cases.map(() => randomUUID());
    receiver.down = true;
    const downSince = Date.now();
    await Promise.all(
      cases.map(async (ids, c) => {
        for (let i = 0; i < perCase; i++) {
          const msg = rueckmeldung((doc) => {
            doc.vorgang.bezugId = caseIds[c];
          });
          expect((await sn.send('sn-melde', msg.body, 'application/json')).status).toBe(202);
          ids.push(msg.id);
        }
      }),
    );
    await eventually(async () => ((await breakerGauge(t)) === 2 ? true : undefined), 10_000, 'breaker open');
    // Down long enough that without a breaker each of the 8 case heads would be pushed ~10 times.
    const downUntil = Date.now() + 6_000;
    // Meanwhile another receiving system is served as usual (its own topics, its own breaker).
    const other = auswertung(randomUUID());
    expect((await t.client('st-melde').send('st-melde', other.body, 'application/xml')).status).toBe(202);
    await eventually(
      async () => ((await t.gateway.mailbox.wasDelivered('sn-melde', other.id)) ? true : undefined),
      5_000,
      'the message to sn-melde while st-melde is down',
    );
    await new Promise((r) => setTimeout(r, Math.max(0, downUntil - Date.now())));
    const downMs = Date.now() - downSince;
    const pushedWhileDown = receiver.log.length;
    receiver.down = false;

    // Trip, plus what was already under way (deliver and retry consumer per partition), plus one
    // probe per cool-down.
    const bound = TRIP_AFTER + 2 * PARTITIONS + Math.ceil(downMs / COOL_DOWN_MS) + 1;
    expect(pushedWhileDown).toBeGreaterThanOrEqual(TRIP_AFTER);
    expect(pushedWhileDown).toBeLessThanOrEqual(bound);

    const all = cases.flat();
    await eventually(
      async () => {
        const got = new Set(receiver.accepted.map((r) => r.messageId));
        return all.every((id) => got.has(id)) ? true : undefined;
      },
      30_000,
      `all ${all.length} messages at the receiver`,
    );
    await new Promise((r) => setTimeout(r, 1_000)); // time for a duplicate to show up, if any
    const arrived = receiver.accepted.map((r) => r.messageId);
    expect(arrived).toHaveLength(all.length);
    expect(new Set(arrived).size).toBe(all.length);
    for (const ids of cases) {
      const inCase = new Set(ids);
      expect(arrived.filter((id) => inCase.has(id))).toEqual(ids);
    }
    expect(await breakerGauge(t)).toBe(0);

    const dead = await t.gateway.auditStore.query({ kind: 'dead-lettered', limit: 1_000 });
    expect(dead.filter((e) => all.includes(e.messageId!))).toEqual([]);
    // The parked records say why they were not pushed, and a refusal is not an attempt: the attempt
    // number of a record goes up with its real pushes only.
    const attempted = await t.gateway.auditStore.query({ kind: 'delivery-attempted', limit: 10_000 });
    const notPushed = attempted.filter((e) => all.includes(e.messageId!) && e.detail.pushed === false);
    expect(notPushed.length).toBeGreaterThan(caseCount);
    for (const e of notPushed) {
      expect(String(e.detail.outcome)).toMatch(/^not pushed: circuit (open|half-open)/);
      const realPushes = receiver.log.filter((p) => p.messageId === e.messageId).length;
      expect(Number(e.detail.attempt)).toBeLessThanOrEqual(realPushes + 1);
    }
    const refusals = (id: string) => notPushed.filter((e) => e.messageId === id).length;
    expect(all.some((id) => refusals(id) >= 2)).toBe(true);
  }, 60_000);
});
