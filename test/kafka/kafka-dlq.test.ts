/**
 * A push receiver that is down, on the SQLite bus and on Kafka alike: the delivery worker retries
 * through the retry topic, dead-letters after the configured attempts, `gw dlq list` shows the
 * entries without consuming them, and `gw dlq replay <id>` / `--all` deliver once the receiver is
 * back — each message exactly once, with a `replayed` audit event. A record that can never be
 * delivered (its seal does not verify) goes to the dead-letter queue at once.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverTopic, HEADER } from '../../gateway/bus/topics.ts';
import { DeadLetterQueue } from '../../gateway/pipeline/dead-letters.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import {
  eventually,
  pushContracts,
  startTestGateway,
  TEST_PASSPHRASE,
  type TestGateway,
} from '../support/gateway.ts';
import { type PushedRequest, type PushReceiver, startPushReceiver } from '../support/push-receiver.ts';
import { runGw } from './support/gw-process.ts';
import { brokers, deleteByPrefix, uniquePrefix } from './support/kafka-run.ts';
import { removeScratchDirs, scratchDir } from './support/scratch.ts';
import { type TcpSwitch, tcpSwitch } from './support/tcp-switch.ts';

interface StatusView {
  status: string;
  history: { event: string; actor: string; detail: Record<string, unknown> }[];
}

function kafkaEnv(prefix: string): Record<string, string> {
  return { GATEWAY_BUS: 'kafka', KAFKA_BROKERS: brokers(), KAFKA_TOPIC_PREFIX: prefix };
}

afterAll(removeScratchDirs);

for (const bus of ['sqlite', 'kafka'] as const) {
  describe(`a push receiver that is down, on the ${bus} bus: dead-letter queue and gw dlq replay`, () => {
    const prefix = uniquePrefix(`dlq-${bus}`);
    let t: TestGateway;
    let receiver: PushReceiver;
    let door: TcpSwitch;
    let cliEnv: NodeJS.ProcessEnv;
    const received: PushedRequest[] = [];

    beforeAll(async () => {
      const dataDir = scratchDir(`dlq-${bus}`);
      receiver = await startPushReceiver(dataDir, (request) => {
        received.push(request);
        return 204;
      });
      door = await tcpSwitch(receiver.url); // down until the test opens it
      const contractsDir = pushContracts({ 'st-melde': door.url }, scratchDir('contracts'));
      const env = {
        ...(bus === 'kafka' ? kafkaEnv(prefix) : { GATEWAY_BUS: 'sqlite' }),
        GATEWAY_RETRY_BASE_DELAY_MS: '100',
        GATEWAY_RETRY_MAX_DELAY_MS: '300',
        GATEWAY_DELIVERY_MAX_ATTEMPTS: '3',
        // Not the breaker's test: two messages × 3 failed attempts would trip it (5 in a row), and
        // whether the refused attempt is a's or b's depends on the retries' jitter.
        GATEWAY_BREAKER_CONSECUTIVE_FAILURES: '1000000',
        GATEWAY_BREAKER_MIN_PUSHES: '1000000',
      };
      t = await startTestGateway({ dataDir, contractsDir, env });
      cliEnv = {
        ...process.env,
        ...env,
        GATEWAY_DATA_DIR: dataDir,
        GATEWAY_CONTRACTS_DIR: contractsDir,
        GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
      };
    });
    afterAll(async () => {
      await t?.stop();
      await door?.close();
      await receiver?.close();
      if (bus === 'kafka') await deleteByPrefix(prefix);
    });

    const listed = async () => {
      const list = await runGw(['dlq', 'list', '--system', 'st-melde', '--json'], cliEnv);
      expect(list.stderr).toBe('');
      expect(list.code).toBe(0);
      return JSON.parse(list.stdout) as { messageId: string; attempts: number; reason: string }[];
    };

    it('dead-letters after the configured attempts, lists without consuming, replays one and then all', async () => {
      const sn = t.client('sn-melde');
      const a = rueckmeldung();
      const b = rueckmeldung();
      for (const m of [a, b])
        expect((await sn.send('sn-melde', m.body, 'application/json')).status).toBe(202);
      for (const m of [a, b]) {
        await eventually(
          async () =>
            (await sn.call<StatusView>('GET', `/v1/messages/${m.id}`)).body.status === 'dead-lettered'
              ? true
              : undefined,
          60_000,
          `${m.id} dead-lettered`,
        );
      }
      const trail = (await sn.call<StatusView>('GET', `/v1/messages/${a.id}`)).body.history;
      expect(
        trail.filter((h) => h.event === 'delivery-attempted').map((h) => [h.detail.attempt, h.detail.status]),
      ).toEqual([
        [1, 0],
        [2, 0],
        [3, 0],
      ]);
      expect(trail.at(-1)).toMatchObject({
        event: 'dead-lettered',
        detail: { attempts: 3, replayGeneration: 0 },
      });

      const first = await listed();
      expect(first.map((e) => e.messageId).sort()).toEqual([a.id, b.id].sort());
      for (const e of first) {
        expect(e.attempts).toBe(3);
        expect(e.reason).toContain('gave up after 3 attempt(s)');
      }
      // Listing read the queue; it did not consume it.
      expect((await listed()).map((e) => e.messageId).sort()).toEqual([a.id, b.id].sort());
      expect(received).toHaveLength(0);

      await door.up();
      const one = await runGw(['dlq', 'replay', a.id], cliEnv);
      expect(one.stderr).toBe('');
      expect(one.stdout).toContain('replayed 1 message(s)');
      expect(one.code).toBe(0);
      await eventually(
        async () => (received.some((r) => r.messageId === a.id) ? true : undefined),
        60_000,
        'the replayed message at the receiver',
      );
      const replayed = (await sn.call<StatusView>('GET', `/v1/messages/${a.id}`)).body;
      expect(replayed.status).toBe('acknowledged');
      expect(replayed.history.find((h) => h.event === 'replayed')).toMatchObject({
        actor: 'cli',
        detail: { replayGeneration: 1 },
      });

      const queue = new DeadLetterQueue({
        bus: t.gateway.bus,
        audit: t.gateway.audit,
        topicPrefix: t.gateway.config.kafka.topicPrefix,
        actor: 'test',
      });
      expect((await queue.list('st-melde')).map((e) => e.messageId)).toEqual([b.id]);

      const unknown = await runGw(['dlq', 'replay', a.id], cliEnv);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain('GW_ERR_NOT_FOUND');

      const all = await runGw(['dlq', 'replay', '--all', '--system', 'st-melde'], cliEnv);
      expect(all.code).toBe(0);
      expect(all.stdout).toContain('replayed 1 message(s)');
      await eventually(
        async () => (received.some((r) => r.messageId === b.id) ? true : undefined),
        60_000,
        'the second replayed message at the receiver',
      );
      expect(await queue.list('st-melde')).toEqual([]);
      await new Promise((r) => setTimeout(r, 500));
      expect(received.map((r) => r.messageId).sort()).toEqual([a.id, b.id].sort());
    }, 240_000); // five `gw` processes, each a few seconds to start on a busy machine

    it('dead-letters a record whose seal does not verify at once, unattempted; a replay brings it back as a new entry', async () => {
      const { bus, config, auditStore } = t.gateway;
      const prefix = config.kafka.topicPrefix;
      const id = randomUUID();
      await bus.publish([
        {
          topic: deliverTopic(prefix, 'st-melde'),
          key: id,
          value: Buffer.from('<forged>no seal</forged>'),
          headers: { [HEADER.messageId]: id, [HEADER.senderSystem]: 'sn-melde' },
        },
      ]);
      const queue = new DeadLetterQueue({ bus, audit: t.gateway.audit, topicPrefix: prefix, actor: 'test' });
      const entry = await eventually(
        async () => (await queue.list('st-melde')).find((e) => e.messageId === id),
        60_000,
        'the forged record in the dead-letter queue',
      );
      expect(entry).toMatchObject({ attempts: 0, senderSystem: 'sn-melde' });
      expect(entry.reason).toContain('seal verification failed');
      const trail = await auditStore.query({ messageId: id, limit: 10 });
      expect(trail.map((e) => e.kind)).toEqual(['dead-lettered']);

      expect((await queue.replay('st-melde', { messageId: id })).map((e) => e.position)).toEqual([
        entry.position,
      ]);
      const again = await eventually(
        async () =>
          (await queue.list('st-melde')).find((e) => e.messageId === id && e.position !== entry.position),
        60_000,
        'the forged record dead-lettered again',
      );
      expect((await queue.list('st-melde')).filter((e) => e.messageId === id)).toEqual([again]);
      // Delivery events live in the chains of their partitions, `replayed` in the main chain, and
      // the SQLite bus can hand the replayed record over within the millisecond of its `replayed`
      // (which is written after the republish): the replay generations order them, not the clock.
      const trail2 = await auditStore.query({ messageId: id, limit: 10 });
      const byCause = trail2
        .map((e) => [e.kind, e.detail.replayGeneration] as const)
        .sort(
          ([kindA, a], [kindB, b]) =>
            Number(a) - Number(b) || (kindA === 'replayed' ? -1 : kindB === 'replayed' ? 1 : 0),
        );
      expect(byCause).toEqual([
        ['dead-lettered', 0],
        ['replayed', 1],
        ['dead-lettered', 1],
      ]);
      // Whatever order the times put them in, the message is dead-lettered: for the status API and
      // for the auditors' search.
      const status = await t.client('sn-melde').call<StatusView>('GET', `/v1/messages/${id}`);
      expect(status.body.status).toBe('dead-lettered');
      expect((await auditStore.searchMessages({ messageId: id, limit: 1 })).items[0]?.status).toBe(
        'dead-lettered',
      );
      expect(received.some((r) => r.messageId === id)).toBe(false);
    });
  });
}
