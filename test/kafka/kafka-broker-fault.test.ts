/**
 * Broker fault: the gateway runs on a broker of this test's own (another port, another data
 * directory — the shared test broker is never touched). A stream of messages flows; the broker is
 * stopped for 10 s and started again. While it is away, ingress answers 503 with Retry-After and
 * GW_ERR_BUS_UNAVAILABLE after KAFKA_PUBLISH_TIMEOUT_MS — never 202. After recovery every message
 * that got a 202 is delivered exactly once, and the refused ones, sent again, too; each is
 * `accepted` once in the trail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverTopic, deliveryGroup, retryGroup, retryTopic } from '../../gateway/bus/topics.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually, pushContracts, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { type PrivateKafka, privateKafka } from '../support/private-kafka.ts';
import { type PushReceiver, startPushReceiver } from '../support/push-receiver.ts';
import { uniquePrefix } from './support/kafka-run.ts';
import { removeScratchDirs, scratchDir } from './support/scratch.ts';

const OUTAGE_MS = 10_000;

interface Outcome {
  id: string;
  body: string;
  status: number;
  code?: string;
  retryAfter?: string;
  startedAt: number;
  endedAt: number;
}

afterAll(removeScratchDirs);

describe('the broker goes away for 10 s in the middle of a stream', () => {
  let t: TestGateway;
  let receiver: PushReceiver;
  let broker: PrivateKafka;
  const received: string[] = [];

  beforeAll(async () => {
    broker = await privateKafka();
    await broker.start();
    const dataDir = scratchDir('broker-fault');
    receiver = await startPushReceiver(dataDir, (request) => {
      received.push(request.messageId);
      return 204;
    });
    const contractsDir = pushContracts({ 'st-melde': receiver.url }, scratchDir('contracts'));
    t = await startTestGateway({
      dataDir,
      contractsDir,
      env: {
        GATEWAY_BUS: 'kafka',
        KAFKA_BROKERS: broker.brokers,
        KAFKA_TOPIC_PREFIX: uniquePrefix('fault'),
        KAFKA_PUBLISH_TIMEOUT_MS: '2000',
        GATEWAY_BUS_PARTITIONS: '4',
      },
    });
  }, 300_000); // a broker start: 10 s here, much longer on a saturated machine

  afterAll(async () => {
    await t?.stop();
    await receiver?.close();
    await broker?.destroy();
  });

  /** For a failure: how far the delivery groups got, and the audit trail of the first missing messages. */
  async function whereAreThey(missing: Outcome[]): Promise<string> {
    const prefix = t.gateway.config.kafka.topicPrefix;
    const lag = async (group: string, topic: string) =>
      JSON.stringify(await t.gateway.bus.lag(group, topic).catch((e: Error) => e.message));
    const trails = await Promise.all(
      missing.slice(0, 5).map(async (o) => {
        const trail = await t.gateway.auditStore.query({ messageId: o.id });
        return `${o.id} (202 at +${o.endedAt - missing[0]!.endedAt} ms): ${trail.map((e) => e.kind).join(', ')}`;
      }),
    );
    return [
      `${missing.length} accepted message(s) not at the receiver; first sent at ${new Date(missing[0]?.startedAt ?? 0).toISOString()}`,
      `deliver lag ${await lag(deliveryGroup(prefix, 'st-melde'), deliverTopic(prefix, 'st-melde'))}`,
      `retry lag ${await lag(retryGroup(prefix, 'st-melde'), retryTopic(prefix, 'st-melde'))}`,
      ...trails,
    ].join('\n');
  }

  it('answers 503 + Retry-After while it is away, never 202, and delivers every accepted message once', async () => {
    const sn = t.client('sn-melde');
    const outcomes: Outcome[] = [];
    let streaming = true;
    const send = async (m: { id: string; body: string }) => {
      const startedAt = Date.now();
      const r = await sn.send('sn-melde', m.body, 'application/json');
      const body = r.body as { code?: string };
      const outcome: Outcome = {
        ...m,
        status: r.status,
        code: body.code,
        retryAfter: r.headers['retry-after'] as string | undefined,
        startedAt,
        endedAt: Date.now(),
      };
      outcomes.push(outcome);
      return outcome;
    };
    const stream = async () => {
      while (streaming) {
        await send(rueckmeldung());
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    const senders = [stream(), stream()];

    await new Promise((r) => setTimeout(r, 2000));
    await broker.stop();
    const downAt = Date.now();
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    const restartAt = Date.now();
    await broker.start();
    const upAt = Date.now();
    await eventually(
      async () => (outcomes.some((o) => o.startedAt > upAt && o.status === 202) ? true : undefined),
      60_000,
      'a 202 after the broker is back',
    );
    await new Promise((r) => setTimeout(r, 2000));
    streaming = false;
    await Promise.all(senders);

    const accepted = outcomes.filter((o) => o.status === 202);
    const refused = outcomes.filter((o) => o.status !== 202);
    expect(accepted.filter((o) => o.endedAt < downAt).length).toBeGreaterThan(0);
    // While the broker was away: only 503s, each with Retry-After and the stable code.
    const during = outcomes.filter((o) => o.startedAt >= downAt && o.endedAt <= restartAt);
    expect(during.length).toBeGreaterThan(0);
    for (const o of during) {
      expect(o.status).toBe(503);
      expect(o.code).toBe('GW_ERR_BUS_UNAVAILABLE');
      expect(Number(o.retryAfter)).toBeGreaterThan(0);
    }
    for (const o of refused) expect(o.status).toBe(503);

    // Every 202 was on the broker: all of them arrive, each once.
    await eventually(
      async () => (accepted.every((o) => received.includes(o.id)) ? true : undefined),
      60_000,
      'every accepted message at the receiver',
    ).catch(async (error: Error) => {
      throw new Error(
        `${error.message}\n${await whereAreThey(accepted.filter((o) => !received.includes(o.id)))}`,
      );
    });
    // A refused message may still have reached the broker (its send went on retrying). Sending it
    // again, as Retry-After asks, is safe: it is accepted now (202), or, if it landed and the gateway
    // has written its entries from the record meanwhile, refused as already accepted (409); either
    // way it is delivered once, and the trail says `accepted` once.
    for (const o of refused) {
      const again = await send({ id: o.id, body: o.body });
      expect([202, 409], `${o.id} sent again: ${again.status} ${again.code ?? ''}`).toContain(again.status);
      if (again.status === 409) expect(again.code).toBe('GW_ERR_DUPLICATE_MESSAGE');
    }
    await eventually(
      async () => (refused.every((o) => received.includes(o.id)) ? true : undefined),
      60_000,
      'every re-sent message at the receiver',
    );
    await new Promise((r) => setTimeout(r, 1000));
    const counts = new Map<string, number>();
    for (const id of received) counts.set(id, (counts.get(id) ?? 0) + 1);
    expect([...counts].filter(([, n]) => n > 1)).toEqual([]);
    expect(counts.size).toBe(accepted.length + refused.length);
    for (const id of counts.keys()) {
      const trail = await t.gateway.auditStore.query({ messageId: id, kind: 'accepted' });
      expect(trail.length, `${id}: accepted entries`).toBe(1);
    }
    process.stderr.write(
      `broker fault: ${accepted.length} accepted, ${refused.length} refused with 503 (${during.length} while the broker was down), ` +
        `broker restart took ${upAt - restartAt} ms\n`,
    );
  }, 240_000); // a broker restart alone takes 10–30 s on a busy 2-core machine
});
