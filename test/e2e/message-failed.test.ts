/**
 * `failed`: a message the gateway received, found new, and could not accept for a reason on its own
 * side — the bus did not confirm the publish, the signer was not ready, an internal error. The
 * sender is told to retry (5xx); the status API and the audit trail say `failed` for every message
 * of the request (not `rejected`, which is the sender's input refused, nor 404), the sender's
 * callback hears `message.failed`, and a later accepted resend moves the message on.
 *
 * The bus outage is a real one: while it lasts, publishes to the deliver topics go to a SQLite bus
 * that is closed (the callback topics stay on the gateway's bus, so that the callback can be seen).
 * On both audit stores: the status API folds the trail, the search index is each store's projector.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import iconv from 'iconv-lite';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SqliteBus } from '../../gateway/bus/sqlite-bus.ts';
import type { CallbackEvent } from '../../gateway/callbacks/callback-event.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { GatewayError } from '../../gateway/errors/catalogue.ts';
import { SignerPool } from '../../gateway/signing/signer-pool.ts';
import { dropSchema, freshSchemaName, PG_URL } from '../conformance/pg-test-schema.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import {
  contractsWith,
  eventually,
  startTestGateway,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';
import { type PushReceiver, startPushReceiver } from '../support/push-receiver.ts';

interface Problem {
  status: number;
  code: string;
  requestId: string;
}

interface StatusView {
  messageId: string;
  status: string;
  senderSystem: string | null;
  receiverSystem: string | null;
  messageType: string | null;
  history: { event: string; actor: string; detail: Record<string, unknown> }[];
}

const SN_SECRET = 'sn-melde callback secret: 32 bytes or more, from a file';

/** The Thüringen CSV batch (three Rückmeldungen) with fresh nachrichtenUUIDs. */
function thueringenBatch(): { body: Buffer; ids: string[] } {
  const file = path.join(
    REPO_ROOT,
    'adapters/th-melde/fixtures/0201-nachtlauf-erfurt-jena-weimar.native.csv',
  );
  let text = iconv.decode(readFileSync(file), 'win1252');
  const ids: string[] = [];
  for (const old of [
    '6B0E2A91-3C4D-4F5E-8A7B-9C0D1E2F3A41',
    '6B0E2A91-3C4D-4F5E-8A7B-9C0D1E2F3A42',
    '6B0E2A91-3C4D-4F5E-8A7B-9C0D1E2F3A43',
  ]) {
    const id = randomUUID();
    text = text.replace(new RegExp(old, 'gi'), id);
    ids.push(id);
  }
  return { body: iconv.encode(text, 'win1252'), ids };
}

const STORES = [
  { store: 'SQLite', env: (): Record<string, string> => ({}) },
  { store: 'PostgreSQL', env: (schema: string) => ({ DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema }) },
];

describe.each(STORES)(
  'messages the gateway could not accept on its own side are `failed` ($store audit store)',
  ({ store, env }) => {
    const schema = freshSchemaName('failed');
    let t: TestGateway;
    let callbacks: PushReceiver;
    const toSn: CallbackEvent[] = [];
    let busDown = false;
    let closedBus: SqliteBus;

    beforeAll(async () => {
      const dataDir = tempDir('failed');
      callbacks = await startPushReceiver(dataDir, (request) => {
        toSn.push(JSON.parse(request.body.toString('utf8')) as CallbackEvent);
        return 204;
      });
      const contractsDir = contractsWith((systems) =>
        systems.map((s) =>
          s.id === 'sn-melde'
            ? { ...s, callback: { url: callbacks.url, secretFile: 'secrets/sn-melde.callback' } }
            : s,
        ),
      );
      mkdirSync(path.join(contractsDir, 'secrets'), { mode: 0o700 });
      writeFileSync(path.join(contractsDir, 'secrets', 'sn-melde.callback'), `${SN_SECRET}\n`, {
        mode: 0o600,
      });
      t = await startTestGateway({ dataDir, contractsDir, env: env(schema) });
      expect(t.gateway.auditStore.kind).toBe(store === 'SQLite' ? 'sqlite' : 'postgres');

      closedBus = new SqliteBus({ file: path.join(tempDir('closed-bus'), 'bus.sqlite') });
      await closedBus.close();
      const bus = t.gateway.bus;
      const publish = bus.publish.bind(bus);
      bus.publish = (records) =>
        busDown && records.some((r) => r.topic.includes('.deliver.'))
          ? closedBus.publish(records)
          : publish(records);
    }, 60_000);
    afterEach(() => {
      busDown = false;
      vi.restoreAllMocks();
    });
    afterAll(async () => {
      await t?.stop();
      await callbacks?.close();
      if (store === 'PostgreSQL') await dropSchema(schema);
    });

    const statusOf = (systemId: string, messageId: string) =>
      t.client(systemId).call<StatusView>('GET', `/v1/messages/${messageId}`);
    const trailKinds = async (messageId: string) =>
      (await t.gateway.auditStore.query({ messageId })).map((e) => e.kind);
    const indexedStatus = async (messageId: string) =>
      (await t.gateway.auditStore.searchMessages({ messageId, limit: 10 })).items.map((s) => s.status);

    it('a bus outage: 503 + Retry-After, the message `failed` (status API, trail, index, callback); a resend moves it on', async () => {
      const msg = rueckmeldung();
      busDown = true;
      const r = await t.client('sn-melde').send('sn-melde', msg.body, 'application/json');
      busDown = false;
      expect(r.status).toBe(503);
      expect(r.headers['retry-after']).toBe('5');
      const problem = r.body as Problem;
      expect(problem.code).toBe('GW_ERR_BUS_UNAVAILABLE');

      const status = await statusOf('sn-melde', msg.id);
      expect(status.status).toBe(200);
      expect(status.body).toMatchObject({
        messageId: msg.id,
        status: 'failed',
        senderSystem: 'sn-melde',
        receiverSystem: 'st-melde',
        messageType: expect.stringMatching(/^xmeld:/),
      });
      expect(status.body.history).toEqual([
        {
          chain: expect.any(String),
          seq: expect.any(Number),
          time: expect.any(String),
          event: 'failed',
          actor: 'system:sn-melde',
          detail: { code: 'GW_ERR_BUS_UNAVAILABLE', requestId: problem.requestId, messages: 1 },
        },
      ]);
      // The receiver's view: the message never reached it, but its status is the same.
      expect((await statusOf('st-melde', msg.id)).body.status).toBe('failed');
      expect(await trailKinds(msg.id)).toEqual(['failed']);
      // Audited once, under the message: not again as a refused request.
      expect(await trailKinds(problem.requestId)).toEqual([]);
      expect(await indexedStatus(msg.id)).toEqual(['failed']);
      const failedCallback = await eventually(
        async () => toSn.find((e) => e.messageId === msg.id && e.status === 'failed'),
        15_000,
        'the message.failed callback',
      );
      expect(failedCallback).toMatchObject({ type: 'message.failed', receiverSystem: 'st-melde' });

      // The sender retries as told: accepted now, and the failure is history.
      expect((await t.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
      // st-melde pulls: the message is delivered once it is in its inbox.
      const after = await eventually(
        async () => {
          const view = (await statusOf('sn-melde', msg.id)).body;
          const indexed = await indexedStatus(msg.id);
          return view.status === 'delivered' && indexed[0] === 'delivered' ? view : undefined;
        },
        15_000,
        'the resent message delivered, in the status API and the search index',
      );
      expect(after.history.map((h) => h.event).slice(0, 3)).toEqual(['failed', 'received', 'accepted']);
      await eventually(
        async () => toSn.find((e) => e.messageId === msg.id && e.status === 'delivered'),
        15_000,
        'the message.delivered callback',
      );
    });

    it('a batch that meets a bus outage: every message of it is `failed`, none 404', async () => {
      const batch = thueringenBatch();
      busDown = true;
      const r = await t.client('th-melde').send('th-melde', batch.body, 'text/csv');
      busDown = false;
      expect(r.status).toBe(503);
      const { requestId } = r.body as Problem;
      for (const id of batch.ids) {
        const status = await statusOf('th-melde', id);
        expect(status.status, id).toBe(200);
        expect(status.body.status).toBe('failed');
        expect(status.body.history.map((h) => [h.event, h.detail])).toEqual([
          ['failed', { code: 'GW_ERR_BUS_UNAVAILABLE', requestId, messages: 3 }],
        ]);
      }
      expect(await trailKinds(requestId)).toEqual([]);
    });

    it('the signer not ready (shutting down): 503 GW_ERR_NOT_READY, the message `failed`', async () => {
      vi.spyOn(SignerPool.prototype, 'sign').mockRejectedValueOnce(
        new GatewayError('GW_ERR_NOT_READY', 'the signer pool is closing'),
      );
      const msg = rueckmeldung();
      const r = await t.client('sn-melde').send('sn-melde', msg.body, 'application/json');
      expect(r.status).toBe(503);
      expect((r.body as Problem).code).toBe('GW_ERR_NOT_READY');
      const status = await statusOf('sn-melde', msg.id);
      expect(status.body.status).toBe('failed');
      expect(status.body.history.map((h) => h.detail.code)).toEqual(['GW_ERR_NOT_READY']);
    });

    it('an internal error while sealing: 500, the message `failed` and audited once', async () => {
      vi.spyOn(SignerPool.prototype, 'sign').mockRejectedValueOnce(new TypeError('a bug in the signer'));
      const msg = rueckmeldung();
      const r = await t.client('sn-melde').send('sn-melde', msg.body, 'application/json');
      expect(r.status).toBe(500);
      const problem = r.body as Problem;
      expect(problem.code).toBe('GW_ERR_INTERNAL');
      const status = await statusOf('sn-melde', msg.id);
      expect(status.body.status).toBe('failed');
      expect(status.body.history.map((h) => h.detail)).toEqual([
        { code: 'GW_ERR_INTERNAL', requestId: problem.requestId, messages: 1 },
      ]);
      expect(await trailKinds(problem.requestId)).toEqual([]);
    });

    it('a store outage before the message is known to be new: not `failed` (it may be an accepted one); the request is audited', async () => {
      // The replay check cannot tell whether this id was accepted before: marking it `failed` could
      // mark an accepted message failed. The request is audited under its id, as every refusal
      // before a message is known.
      vi.spyOn(t.gateway.auditStore, 'hasEvent').mockRejectedValueOnce(
        new Error('Connection terminated unexpectedly'),
      );
      const msg = rueckmeldung();
      const r = await t.client('sn-melde').send('sn-melde', msg.body, 'application/json');
      expect(r.status).toBe(503);
      const problem = r.body as Problem;
      expect(problem.code).toBe('GW_ERR_NOT_READY');
      expect((await statusOf('sn-melde', msg.id)).status).toBe(404);
      const request = await t.gateway.auditStore.query({ messageId: problem.requestId });
      expect(request.map((e) => [e.kind, e.detail.code])).toEqual([['rejected', 'GW_ERR_NOT_READY']]);
    });

    it('a refusal of the input after decoding stays `rejected`', async () => {
      const msg = rueckmeldung((d) => {
        d.absender.ags = '15002000';
      });
      const r = await t.client('sn-melde').send('sn-melde', msg.body, 'application/json');
      expect(r.status).toBe(403);
      expect((await statusOf('sn-melde', msg.id)).body.status).toBe('rejected');
    });
  },
);
