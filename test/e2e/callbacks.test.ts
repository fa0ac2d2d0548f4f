/**
 * Callbacks end to end: a system registers a callback URL and secret in the directory; the gateway
 * POSTs HMAC-signed events of the messages it sent (delivered, acknowledged, dead-lettered) to a
 * real HTTPS receiver, which verifies them with the exported verifyCallback. Failed callbacks are
 * retried without holding up delivery; tampered, old and replayed callbacks are refused. A message
 * dead-lettered again after an operator's replay is reported again, under an event id of its own.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallbackEvent } from '../../gateway/callbacks/callback-event.ts';
import {
  CALLBACK_SIGNATURE_HEADER,
  CALLBACK_TIMESTAMP_HEADER,
  ReplayGuard,
  signCallback,
  verifyCallback,
} from '../../gateway/callbacks/signature.ts';
import { CallbackSchema } from '../../gateway/directory/directory.ts';
import { receiptIdFor } from '../../gateway/receipts/receipt-id.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import {
  contractsWith,
  eventually,
  startTestGateway,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';
import { scraperAuth } from '../support/metrics-scrape.ts';
import { type PushedRequest, type PushReceiver, startPushReceiver } from '../support/push-receiver.ts';

const SN_SECRET = 'sn-melde callback secret: 32 bytes or more, from a file';
const ST_SECRET = 'st-melde callback secret, from the environment, long enough';
const ST_SECRET_ENV = 'GW_TEST_CALLBACK_SECRET_ST_MELDE';

interface Received {
  request: PushedRequest;
  verification: ReturnType<typeof verifyCallback>;
  event: CallbackEvent;
}

describe('callbacks', () => {
  let t: TestGateway;
  let snCallbacks: PushReceiver;
  let stCallbacks: PushReceiver;
  let stPush: PushReceiver;
  const guard = new ReplayGuard();
  const toSn: Received[] = [];
  const toSt: PushedRequest[] = [];
  /** Messages st-melde's push endpoint refuses for good (400: dead-lettered at once). */
  const refusedBySt = new Set<string>();
  /** How many callbacks to sn-melde fail (503) before it answers again. */
  let snFailures = 0;
  /** Signatures of the attempts answered 503. */
  const failedSignatures: string[] = [];

  beforeAll(async () => {
    const dataDir = tempDir('callbacks');
    snCallbacks = await startPushReceiver(dataDir, (request) => {
      if (snFailures > 0) {
        snFailures--;
        failedSignatures.push(String(request.headers['callback-authentication']));
        return 503;
      }
      const verification = verifyCallback({
        secret: SN_SECRET,
        body: request.body,
        headers: request.headers,
        replayGuard: guard,
      });
      toSn.push({ request, verification, event: JSON.parse(request.body.toString('utf8')) });
      return verification.ok ? 204 : 401;
    });
    stCallbacks = await startPushReceiver(dataDir, (request) => {
      toSt.push(request);
      return 200;
    });
    stPush = await startPushReceiver(dataDir, (request) => (refusedBySt.has(request.messageId) ? 400 : 200));
    const contractsDir = contractsWith((systems) =>
      systems.map((s) => {
        if (s.id === 'sn-melde')
          return { ...s, callback: { url: snCallbacks.url, secretFile: 'secrets/sn-melde.callback' } };
        if (s.id === 'st-melde')
          return {
            ...s,
            delivery: { mode: 'push', url: stPush.url },
            callback: { url: stCallbacks.url, secretEnv: ST_SECRET_ENV },
          };
        return s;
      }),
    );
    const secrets = path.join(contractsDir, 'secrets');
    mkdirSync(secrets, { mode: 0o700 });
    writeFileSync(path.join(secrets, 'sn-melde.callback'), `${SN_SECRET}\n`, { mode: 0o600 });
    process.env[ST_SECRET_ENV] = ST_SECRET;
    t = await startTestGateway({ dataDir, contractsDir });
  });
  afterAll(async () => {
    await t?.stop();
    await Promise.all([snCallbacks?.close(), stCallbacks?.close(), stPush?.close()]);
    delete process.env[ST_SECRET_ENV];
  });

  const eventsFor = (messageId: string) => toSn.filter((r) => r.event.messageId === messageId);

  it('signs delivered and acknowledged events of the messages a system sent; the receiver verifies them', async () => {
    const msg = rueckmeldung();
    expect((await t.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    const received = await eventually(
      async () => {
        const events = eventsFor(msg.id);
        return events.length >= 2 ? events : undefined;
      },
      15_000,
      'delivered and acknowledged callbacks',
    );
    expect(received.map((r) => r.verification)).toEqual([
      { ok: true, timestamp: expect.any(Number) },
      { ok: true, timestamp: expect.any(Number) },
    ]);
    expect(received.map((r) => r.event.type).sort()).toEqual(['message.acknowledged', 'message.delivered']);
    const ack = received.find((r) => r.event.status === 'acknowledged')!;
    // Ids, type, status, time: nothing about the person.
    expect(Object.keys(ack.event).sort()).toEqual(
      ['id', 'messageId', 'messageType', 'receiverSystem', 'status', 'time', 'type'].sort(),
    );
    expect(ack.event).toMatchObject({
      messageId: msg.id,
      messageType: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
      receiverSystem: 'st-melde',
    });
    expect(ack.request.contentType).toBe('application/json');
    expect(ack.request.headers[CALLBACK_SIGNATURE_HEADER]).toMatch(/^[0-9a-f]{64}$/);
    expect(Math.abs(Number(ack.request.headers[CALLBACK_TIMESTAMP_HEADER]) - Date.now() / 1000)).toBeLessThan(
      30,
    );
    // The callbacks went over mTLS with the gateway's client certificate.
    expect(ack.request.clientCommonName).toBeTruthy();

    // st-melde sent nothing: it hears of nothing, not even of the receipt sent on its behalf.
    await eventually(async () =>
      (await t.gateway.auditStore.query({ messageId: receiptIdFor(msg.id), kind: 'delivered' })).length > 0
        ? true
        : undefined,
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(toSt).toEqual([]);
    expect(eventsFor(receiptIdFor(msg.id))).toEqual([]);
  });

  it('refuses a tampered body, a stale timestamp and a replayed callback', async () => {
    const genuine = toSn.find((r) => r.verification.ok)!;
    const { body, headers } = genuine.request;

    const tampered = Buffer.from(
      body.toString('utf8').replace('"acknowledged"', '"failed"').replace('"delivered"', '"failed"'),
    );
    expect(tampered.equals(body)).toBe(false);
    expect(verifyCallback({ secret: SN_SECRET, body: tampered, headers })).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
    expect(verifyCallback({ secret: 'another secret of thirty-two bytes!!', body, headers })).toEqual({
      ok: false,
      reason: 'bad-signature',
    });

    // Correctly signed, but six minutes ago (or ahead): outside the five-minute window.
    const old = signCallback(SN_SECRET, body, Math.floor(Date.now() / 1000) - 360);
    expect(verifyCallback({ secret: SN_SECRET, body, headers: old })).toEqual({
      ok: false,
      reason: 'too-old',
    });
    const ahead = signCallback(SN_SECRET, body, Math.floor(Date.now() / 1000) + 360);
    expect(verifyCallback({ secret: SN_SECRET, body, headers: ahead })).toEqual({
      ok: false,
      reason: 'from-the-future',
    });
    // The same timestamp with a forged signature is refused too (the timestamp is signed).
    expect(
      verifyCallback({
        secret: SN_SECRET,
        body,
        headers: {
          ...headers,
          [CALLBACK_TIMESTAMP_HEADER]: String(Number(headers[CALLBACK_TIMESTAMP_HEADER]) + 1),
        },
      }),
    ).toEqual({ ok: false, reason: 'bad-signature' });
    expect(verifyCallback({ secret: SN_SECRET, body, headers: {} })).toEqual({
      ok: false,
      reason: 'missing-headers',
    });

    // The exact request sent again to the receiver: its guard has seen that signature.
    expect(verifyCallback({ secret: SN_SECRET, body, headers, replayGuard: guard })).toEqual({
      ok: false,
      reason: 'replayed',
    });
    // Without the guard the replay would pass: the guard is what catches it.
    expect(verifyCallback({ secret: SN_SECRET, body, headers }).ok).toBe(true);
  });

  it('retries a failing callback with backoff, signing each attempt afresh, without holding up delivery', async () => {
    snFailures = 2;
    const msg = rueckmeldung();
    expect((await t.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    // Delivery and the receipt go on while the callbacks fail.
    await eventually(
      async () =>
        (await t.gateway.auditStore.query({ messageId: receiptIdFor(msg.id), kind: 'delivered' })).length > 0
          ? true
          : undefined,
      15_000,
      'the receipt delivered',
    );
    const received = await eventually(
      async () => {
        const events = eventsFor(msg.id);
        return events.length >= 2 ? events : undefined;
      },
      20_000,
      'both callbacks after the retries',
    );
    expect(received.every((r) => r.verification.ok)).toBe(true);
    expect(snFailures).toBe(0);
    // Every attempt was signed afresh: the retries are not replays of the failed attempts.
    const signatures = [
      ...failedSignatures,
      ...received.map((r) => String(r.request.headers[CALLBACK_SIGNATURE_HEADER])),
    ];
    expect(failedSignatures).toHaveLength(2);
    expect(new Set(signatures).size).toBe(signatures.length);
    const metrics = await t
      .client(null)
      .call<string>('GET', '/metrics', undefined, await scraperAuth(t.gateway));
    expect(metrics.body).toMatch(/gateway_callbacks_total\{outcome="retried"\} [2-9]/);
    expect(metrics.body).toMatch(/gateway_callbacks_total\{outcome="delivered"\} \d+/);
  });

  it('reports a dead-lettered message to its sender', async () => {
    const msg = rueckmeldung();
    refusedBySt.add(msg.id);
    expect((await t.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    const deadLettered = await eventually(
      async () => eventsFor(msg.id).find((r) => r.event.status === 'dead-lettered'),
      15_000,
      'the dead-lettered callback',
    );
    expect(deadLettered.verification.ok).toBe(true);
    expect(deadLettered.event).toMatchObject({ type: 'message.dead-lettered', receiverSystem: 'st-melde' });
    expect(eventsFor(msg.id).map((r) => r.event.status)).not.toContain('acknowledged');
  });

  it('reports each dead-letter of a replayed message as an event of its own', async () => {
    const msg = rueckmeldung();
    refusedBySt.add(msg.id);
    expect((await t.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    const deadLettered = (n: number) =>
      eventually(
        async () => {
          const events = eventsFor(msg.id).filter((r) => r.event.status === 'dead-lettered');
          return events.length >= n ? events : undefined;
        },
        15_000,
        `dead-lettered callback ${n}`,
      );
    await deadLettered(1);
    // An operator replays it; st-melde refuses it again.
    const { token } = await t.gateway.tokens.issue({
      role: 'operator',
      scope: '*',
      name: 'operator',
      lifetimeMs: 3_600_000,
      createdBy: 'test',
      permissions: [],
    });
    const replay = await t
      .client(null)
      .call('POST', `/v1/operations/dead-letters/st-melde/${msg.id}/replay`, undefined, {
        authorization: `Bearer ${token}`,
      });
    expect(replay.status, JSON.stringify(replay.body)).toBe(200);
    const both = await deadLettered(2);
    expect(both.every((r) => r.verification.ok)).toBe(true);
    // A receiver dropping repeats by id keeps both: they are two events, not one sent twice.
    expect(new Set(both.map((r) => r.event.id)).size).toBe(2);
    expect(both.map((r) => r.event)).toMatchObject([{ replayGeneration: 0 }, { replayGeneration: 1 }]);
  });
});

describe('callback registration in the directory', () => {
  it('takes an https URL and exactly one secret source, never the secret itself', () => {
    const url = 'https://sn-melde.example/events';
    expect(CallbackSchema.safeParse({ url, secretEnv: 'SN_MELDE_CALLBACK_SECRET' }).success).toBe(true);
    expect(CallbackSchema.safeParse({ url, secretFile: 'secrets/sn-melde.callback' }).success).toBe(true);
    for (const wrong of [
      { url: 'http://sn-melde.example/events', secretEnv: 'S' },
      { url },
      { url, secretEnv: 'S', secretFile: 'f' },
      { url, secret: 'inline secrets are refused' },
      { url, secretEnv: 'lower-case' },
    ])
      expect(CallbackSchema.safeParse(wrong).success, JSON.stringify(wrong)).toBe(false);
  });
});
