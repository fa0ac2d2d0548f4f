/**
 * Callbacks survive the gateway: an event whose receiver fails is parked on the bus, so a gateway
 * stopped and started again on the same data directory (a new instance, as after a restart) sends
 * it once the receiver is back, with the attempts the first one used counted towards the limit.
 * A system whose receiver keeps failing holds up nobody else's callbacks. The subscriptions follow
 * a reloaded directory; an event the bus refuses is logged and counted, never thrown at the caller.
 * Real HTTPS receivers; run on the embedded bus (callbacks-durable.test.ts) and on Kafka
 * (test/kafka/kafka-callbacks.test.ts).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import type { Gateway } from '../../gateway/app.ts';
import { callbackTopic } from '../../gateway/bus/topics.ts';
import type { CallbackRetryPolicy } from '../../gateway/callbacks/callback-dispatcher.ts';
import { type CallbackEvent, callbackEvent } from '../../gateway/callbacks/callback-event.ts';
import { ReplayGuard, verifyCallback } from '../../gateway/callbacks/signature.ts';
import type { SystemClient } from '../../gateway/cli/system-client.ts';
import type { SystemEntry } from '../../gateway/directory/directory.ts';
import { createLogger, type Logger } from '../../gateway/log/logger.ts';
import { auswertung, rueckmeldung } from '../support/fixtures.ts';
import {
  contractsWith,
  eventually,
  startTestGateway,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';
import { scraperAuth } from '../support/metrics-scrape.ts';
import { type PushReceiver, startPushReceiver } from '../support/push-receiver.ts';

const SN_SECRET_ENV = 'GW_TEST_DURABLE_CALLBACK_SECRET_SN';
const ST_SECRET_ENV = 'GW_TEST_DURABLE_CALLBACK_SECRET_ST';
const SECRET = {
  'sn-melde': 'sn-melde durable callback secret, 32 bytes+',
  'st-melde': 'st-melde durable callback secret, 32 bytes+',
};

type System = keyof typeof SECRET;

interface Attempt {
  system: System;
  event: CallbackEvent;
  /** What the receiver answered. */
  status: number;
  at: number;
}

/** `bus`: the environment that selects the bus (empty: the embedded one); `cleanup` runs last. */
export function describeDurableCallbacks(
  label: string,
  bus: () => Record<string, string> = () => ({}),
  cleanup: () => Promise<void> = async () => {},
): void {
  describe(`durable callbacks (${label})`, () => {
    let dataDir: string;
    let contractsDir: string;
    const receivers: PushReceiver[] = [];
    const attempts: Attempt[] = [];
    /** Receivers answering 503 (down for the gateway) until set back to false. */
    const failing: Record<System, boolean> = { 'sn-melde': false, 'st-melde': false };
    let running: { test: TestGateway; clients: Map<string, SystemClient> } | undefined;

    beforeAll(async () => {
      dataDir = tempDir('callbacks-durable');
      const urls = {} as Record<System, string>;
      for (const system of Object.keys(SECRET) as System[]) {
        const guard = new ReplayGuard();
        const receiver = await startPushReceiver(dataDir, (request) => {
          const event = JSON.parse(request.body.toString('utf8')) as CallbackEvent;
          let status = 503;
          if (!failing[system]) {
            const verification = verifyCallback({
              secret: SECRET[system],
              body: request.body,
              headers: request.headers,
              replayGuard: guard,
            });
            status = verification.ok ? 204 : 401;
          }
          attempts.push({ system, event, status, at: Date.now() });
          return status;
        });
        receivers.push(receiver);
        urls[system] = receiver.url;
      }
      contractsDir = contractsWith((systems) =>
        systems.map((s) =>
          s.id === 'sn-melde' || s.id === 'st-melde'
            ? {
                ...s,
                callback: { url: urls[s.id], secretEnv: s.id === 'sn-melde' ? SN_SECRET_ENV : ST_SECRET_ENV },
              }
            : s,
        ),
      );
      process.env[SN_SECRET_ENV] = SECRET['sn-melde'];
      process.env[ST_SECRET_ENV] = SECRET['st-melde'];
    });
    afterEach(async () => {
      await stop();
      failing['sn-melde'] = false;
      failing['st-melde'] = false;
    });
    afterAll(async () => {
      await Promise.all(receivers.map((r) => r.close()));
      rmSync(dataDir, { recursive: true, force: true });
      delete process.env[SN_SECRET_ENV];
      delete process.env[ST_SECRET_ENV];
      await cleanup();
    });

    /** A new gateway instance on the same data directory (the previous one stopped). */
    async function start(
      options: { callbackRetry?: CallbackRetryPolicy; logger?: Logger } = {},
    ): Promise<Gateway> {
      const test = await startTestGateway({ dataDir, contractsDir, env: bus(), gateway: options });
      running = { test, clients: new Map() };
      return test.gateway;
    }

    async function stop(): Promise<void> {
      if (!running) return;
      const { test } = running;
      running = undefined;
      await test.stop();
    }

    function client(system: System | null): SystemClient {
      const { test, clients } = running!;
      const key = system ?? '';
      if (!clients.has(key)) clients.set(key, test.client(system));
      return clients.get(key)!;
    }

    async function send(system: System): Promise<string> {
      const msg =
        system === 'sn-melde'
          ? { ...rueckmeldung(), contentType: 'application/json' }
          : { ...auswertung(randomUUID()), contentType: 'application/xml' };
      const sent = await client(system).send(system, msg.body, msg.contentType);
      expect(sent.status, JSON.stringify(sent.body)).toBe(202);
      return msg.id;
    }

    const attemptsFor = (messageId: string) => attempts.filter((a) => a.event.messageId === messageId);
    const accepted = (messageId: string) => attemptsFor(messageId).filter((a) => a.status === 204);
    const failedAttempt = (messageId: string, n = 1) =>
      eventually(
        async () => (attemptsFor(messageId).filter((a) => a.status === 503).length >= n ? true : undefined),
        15_000,
        `${n} failed callback attempt(s) for ${messageId}`,
      );
    const metric = async (outcome: string) => {
      const { body } = await client(null).call<string>(
        'GET',
        '/metrics',
        undefined,
        await scraperAuth(running!.test.gateway),
      );
      const match = new RegExp(`gateway_callbacks_total\\{outcome="${outcome}"\\} (\\d+)`).exec(body);
      return Number(match?.[1] ?? 0);
    };

    it('sends a callback whose receiver was down across a restart once it is back, once', async () => {
      // Short steps (the default's first ones are 1 s and 2 s): the wait for a second copy below is
      // longer than the next step whatever the attempt, as the policy caps each step at 500 ms.
      const policy: CallbackRetryPolicy = { maxAttempts: 20, baseDelayMs: 100, maxDelayMs: 500 };
      failing['sn-melde'] = true;
      await start({ callbackRetry: policy });
      const id = await send('sn-melde');
      await failedAttempt(id);
      await stop();

      failing['sn-melde'] = false;
      await start({ callbackRetry: policy });
      const [first] = await eventually(
        async () => (accepted(id).length > 0 ? accepted(id) : undefined),
        15_000,
        'the callback from the restarted gateway',
      );
      expect(first!.event).toMatchObject({
        type: 'message.delivered',
        messageId: id,
        receiverSystem: 'st-melde',
      });
      // Longer than the next backoff step: a second copy would have come by now.
      await new Promise((r) => setTimeout(r, 1500));
      expect(accepted(id)).toHaveLength(1);
      expect(await metric('delivered')).toBe(1);
    });

    it("holds up no other system's callbacks while one system's receiver fails, and sends its backlog later", async () => {
      failing['sn-melde'] = true;
      await start();
      const backlog: string[] = [];
      for (let i = 0; i < 5; i++) backlog.push(await send('sn-melde'));
      for (const id of backlog) await failedAttempt(id);
      await stop();

      // The restarted gateway takes over sn-melde's parked retries, which keep failing, and meanwhile
      // sends st-melde's callbacks as they come.
      await start();
      for (let i = 0; i < 3; i++) {
        const sentAt = Date.now();
        const id = await send('st-melde');
        const [callback] = await eventually(
          async () => (accepted(id).length > 0 ? accepted(id) : undefined),
          5_000,
          "st-melde's callback while sn-melde's receiver fails",
        );
        expect(callback!.event.type).toBe('message.delivered');
        expect(callback!.at - sentAt).toBeLessThan(5_000);
      }
      await eventually(
        async () => (backlog.some((id) => attemptsFor(id).length >= 2) ? true : undefined),
        15_000,
        "sn-melde's parked retries attempted by the restarted gateway",
      );

      failing['sn-melde'] = false;
      await eventually(
        async () => (backlog.every((id) => accepted(id).length > 0) ? true : undefined),
        20_000,
        "sn-melde's backlog after its receiver came back",
      );
      await new Promise((r) => setTimeout(r, 2500));
      for (const id of backlog) expect(accepted(id), id).toHaveLength(1);
    });

    it('signs and sends no record on a callback topic the gateway could not have built, and counts it', async () => {
      const gateway = await start();
      const messageId = randomUUID();
      const genuine = callbackEvent({
        messageId,
        messageType: null,
        status: 'delivered',
        time: new Date().toISOString(),
        receiverSystem: 'st-melde',
      });
      // Whoever can write to the bus must not get the gateway to sign what it never built.
      const forged = [
        { ...genuine, status: 'acknowledged' },
        { ...genuine, receiverSystem: 'st-melde', extra: 'field' },
        'not json',
      ];
      await gateway.bus.publish(
        forged.map((value) => ({
          topic: callbackTopic(gateway.config.kafka.topicPrefix, 'sn-melde'),
          key: messageId,
          value: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
          headers: {},
        })),
      );
      await eventually(
        async () => ((await metric('invalid')) === forged.length ? true : undefined),
        10_000,
        'the forged records counted',
      );
      expect(attemptsFor(messageId)).toHaveLength(0);
      expect(await metric('delivered')).toBe(0);
    });

    it('gives up after maxAttempts, counting the attempts made before a restart', async () => {
      const policy: CallbackRetryPolicy = { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1000 };
      failing['sn-melde'] = true;
      await start({ callbackRetry: policy });
      const id = await send('sn-melde');
      await failedAttempt(id);
      await stop();

      await start({ callbackRetry: policy });
      await failedAttempt(id, 3);
      await eventually(
        async () => ((await metric('gave-up')) === 1 ? true : undefined),
        5_000,
        'the give-up',
      );
      // Given up for good: no fourth attempt after the last backoff step would have passed (this
      // policy's steps are at most maxDelayMs, 1 s).
      await new Promise((r) => setTimeout(r, 1500));
      expect(attemptsFor(id)).toHaveLength(3);
    });

    it('subscribes and unsubscribes the senders of callbacks as a reload registers and drops them', async () => {
      const file = path.join(contractsDir, 'directory.yaml');
      const original = readFileSync(file, 'utf8');
      const gateway = await start();
      expect(gateway.followUps.callbacks.systems.sort()).toEqual(['sn-melde', 'st-melde']);
      try {
        const directory = YAML.parse(original) as { systems: SystemEntry[] };
        const withoutSt = directory.systems.map(({ callback, ...s }) =>
          s.id === 'st-melde' ? s : { ...s, callback },
        );
        writeFileSync(file, YAML.stringify({ systems: withoutSt }));
        await eventually(
          async () => (gateway.followUps.callbacks.systems.join() === 'sn-melde' ? true : undefined),
          5_000,
          "st-melde's callback subscriptions closed after the reload",
        );
        const unannounced = await send('st-melde');
        await eventually(async () =>
          (await gateway.auditStore.query({ messageId: unannounced, kind: 'delivered' })).length > 0
            ? true
            : undefined,
        );
        await new Promise((r) => setTimeout(r, 500));
        expect(attemptsFor(unannounced)).toEqual([]);
      } finally {
        writeFileSync(file, original);
      }
      await eventually(
        async () => (gateway.followUps.callbacks.systems.includes('st-melde') ? true : undefined),
        5_000,
        "st-melde's callback subscriptions after the reload registered it again",
      );
      const announced = await send('st-melde');
      await eventually(
        async () => (accepted(announced).length > 0 ? true : undefined),
        10_000,
        "st-melde's callback once registered again",
      );
    });

    it('logs a failed callback with its message id, and counts one it cannot put on the bus without throwing', async () => {
      const lines: Record<string, unknown>[] = [];
      const logger = createLogger({
        level: 'info',
        destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
      });
      const linesAbout = (messageId: string) => lines.filter((l) => l.messageId === messageId);
      failing['sn-melde'] = true;
      const gateway = await start({ logger });
      const id = await send('sn-melde');
      await failedAttempt(id);
      const retrying = await eventually(
        async () => linesAbout(id).find((l) => l.msg === 'callback failed; retrying'),
        5_000,
        'the retry log line',
      );
      expect(retrying).toMatchObject({ callbackTo: 'sn-melde', attempt: 1, reason: 'receiver answered 503' });

      // The bus is gone (broker down, disk full): the event is lost, loudly, and nobody upstream fails.
      await gateway.bus.close();
      const lost = callbackEvent({
        messageId: randomUUID(),
        messageType: null,
        status: 'delivered',
        time: new Date().toISOString(),
        receiverSystem: 'st-melde',
      });
      expect(() => gateway.followUps.callbacks.notify('sn-melde', lost)).not.toThrow();
      await gateway.followUps.callbacks.idle();
      expect(linesAbout(lost.messageId)).toMatchObject([
        { level: 50, msg: 'callback lost: it could not be put on the bus', callbackTo: 'sn-melde' },
      ]);
      expect(await metric('not-queued')).toBe(1);
    });
  });
}
