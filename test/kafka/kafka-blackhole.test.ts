/**
 * A silent partition between the gateway and the broker (no RST, no FIN: a firewall or NAT that
 * dropped its state, a broken path) that heals after 10 s. Publishes during it must fail within
 * publishTimeoutMs, nothing acknowledged may be lost, and delivery must resume within seconds of the
 * heal — not after kafkajs' request timeout has run out on every dead connection in turn.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaBus } from '../../gateway/bus/kafka-bus.ts';
import { createLogger } from '../../gateway/log/logger.ts';
import { blackholeBroker } from './support/blackhole.ts';
import { brokers, deleteByPrefix, uniquePrefix } from './support/kafka-run.ts';

const RUN = uniquePrefix('blackhole');
const logger = createLogger({ level: process.env.KAFKA_TEST_LOG_LEVEL ?? 'silent', name: 'blackhole-test' });
const PUBLISH_TIMEOUT_MS = 2000;
const BLACK_MS = 10_000;
const t0 = Date.now();
const trace = (what: string) => {
  if (process.env.BLACKHOLE_TRACE) console.log(`[${Date.now() - t0} ms] ${what}`);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterAll(() => deleteByPrefix(RUN));

describe('KafkaBus across a silent network partition', () => {
  it('fails publishes fast during it and resumes delivery within seconds after it heals', async () => {
    const topic = `${RUN}.topic`;
    const path = await blackholeBroker(brokers().split(',')[0]!);
    const bus = new KafkaBus({
      brokers: brokers().split(','),
      clientId: `${RUN}-client`,
      replicationFactor: 1,
      defaultPartitions: 2,
      publishTimeoutMs: PUBLISH_TIMEOUT_MS,
      logger,
    });
    const delivered = new Map<string, number>();
    const acknowledged: string[] = [];
    const failures: { ms: number; code: string }[] = [];
    let stop = false;
    try {
      await bus.ensureTopics([{ name: topic, partitions: 2 }]);
      const sub = await bus.subscribe({
        group: `${RUN}.group`,
        topics: [topic],
        handler: async (r) => {
          const v = r.value.toString();
          if (!delivered.has(v)) delivered.set(v, Date.now());
        },
      });
      let n = 0;
      const publisher = (async () => {
        while (!stop) {
          const value = `m${n++}`;
          const started = Date.now();
          try {
            await bus.publish([{ topic, key: value, value: Buffer.from(value), headers: {} }]);
            acknowledged.push(value);
          } catch (err) {
            failures.push({ ms: Date.now() - started, code: (err as { code?: string }).code ?? String(err) });
          }
          await sleep(50);
        }
      })();

      // Steady state first.
      const deadline = Date.now() + 20_000;
      while (delivered.size < 10 && Date.now() < deadline) await sleep(50);
      expect(delivered.size).toBeGreaterThanOrEqual(10);

      trace('steady');
      path.blackhole();
      const blackAt = Date.now();
      await sleep(BLACK_MS);
      path.heal();
      trace(`healed; acked ${acknowledged.length}, failures ${JSON.stringify(failures)}`);
      const healedAt = Date.now();
      const ackedBeforeHeal = new Set(acknowledged);

      // Delivery resumes: a record first delivered after the heal.
      let resumedAt = 0;
      while (Date.now() - healedAt < 30_000) {
        const after = [...delivered.values()].filter((t) => t > healedAt);
        if (after.length > 0) {
          resumedAt = Math.min(...after);
          break;
        }
        await sleep(50);
      }
      trace(`delivery resumed ${resumedAt - healedAt}`);
      // Publish acknowledgements resume too.
      const ackCountAtHeal = acknowledged.length;
      while (acknowledged.length === ackCountAtHeal && Date.now() - healedAt < 30_000) await sleep(50);
      const publishResumedAt = Date.now();
      trace('publish resumed');
      stop = true;
      await publisher;
      trace('publisher stopped');

      // Everything acknowledged arrives.
      const settle = Date.now() + 30_000;
      while (acknowledged.some((v) => !delivered.has(v)) && Date.now() < settle) await sleep(100);
      const lost = acknowledged.filter((v) => !delivered.has(v));
      const allDeliveredAt = Math.max(...acknowledged.map((v) => delivered.get(v) ?? Number.NaN));
      trace(
        `settled, lost ${lost.length}: ${acknowledged.map((v) => `${v}@${(delivered.get(v) ?? 0) - healedAt}`).join(' ')}`,
      );
      await sub.close();
      trace('sub closed');

      const slowest = Math.max(0, ...failures.map((f) => f.ms));
      const report = {
        blackMs: healedAt - blackAt,
        deliveryResumedAfterHealMs: resumedAt ? resumedAt - healedAt : 'never',
        publishResumedAfterHealMs: publishResumedAt - healedAt,
        allAcknowledgedDeliveredAfterHealMs: allDeliveredAt - healedAt,
        failedPublishes: failures.length,
        slowestFailedPublishMs: slowest,
        failureCodes: [...new Set(failures.map((f) => f.code))],
        acknowledged: acknowledged.length,
        ackedBeforeHeal: ackedBeforeHeal.size,
        lost: lost.length,
        connections: path.connections,
      };
      trace(`measurement ${JSON.stringify(report)}`);

      expect(lost).toEqual([]);
      expect(failures.length).toBeGreaterThan(0);
      expect(new Set(failures.map((f) => f.code))).toEqual(new Set(['GW_ERR_BUS_UNAVAILABLE']));
      expect(slowest).toBeLessThan(PUBLISH_TIMEOUT_MS + 1000);
      expect(resumedAt).toBeGreaterThan(0);
      expect(resumedAt - healedAt).toBeLessThan(10_000);
      expect(publishResumedAt - healedAt).toBeLessThan(10_000);
      // Every partition, not only the first to recover: no connection left hanging on the dead path.
      expect(allDeliveredAt - healedAt).toBeLessThan(10_000);
    } finally {
      stop = true;
      await bus.close().catch(() => {});
      await path.restore();
    }
  }, 120_000);
});
