/**
 * Answer deadlines with two gateways on one PostgreSQL (DATABASE_URL): the cases live in the shared
 * database, so a case opened through gateway A is listed overdue by gateway B too, both gauges agree,
 * and when both check at once the sender gets ONE reminder (the store claims it atomically).
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, startGateway } from '../../gateway/app.ts';
import type { CallbackEvent } from '../../gateway/callbacks/callback-event.ts';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import { loadConfig } from '../../gateway/config/load.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { contractsWith, eventually, TEST_PASSPHRASE, tempDir } from '../support/gateway.ts';
import { type PushReceiver, startCallbackReceiver } from '../support/push-receiver.ts';
import { dropSchema, freshSchemaName, PG_URL } from './pg-test-schema.ts';

const SECRET_ENV = 'GW_TEST_PG_OVERDUE_CALLBACK_SECRET';
const SECRET = 'the sn-melde reminder secret of the replicas, 32+ bytes';

interface OverdueList {
  cases: { messageId: string; remindedAt: string | null }[];
}

describe('answer deadlines shared by two gateways on one PostgreSQL', () => {
  const schema = freshSchemaName('overdue');
  const dataDir = tempDir('pg-overdue');
  let clock = new Date('2026-11-17T09:00:00.000Z');
  let a: Gateway;
  let b: Gateway;
  let reminders: PushReceiver;
  const received: CallbackEvent[] = [];
  const clients: SystemClient[] = [];
  const client = (gateway: Gateway, id: string | null) => {
    const c = SystemClient.forSystem(gateway.url, dataDir, id);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    reminders = await startCallbackReceiver(dataDir, SECRET, (event, ok) => {
      if (ok) received.push(event);
    });
    process.env[SECRET_ENV] = SECRET;
    const contractsDir = contractsWith((systems) =>
      systems.map((s) =>
        s.id === 'sn-melde' ? { ...s, callback: { url: reminders.url, secretEnv: SECRET_ENV } } : s,
      ),
    );
    const start = (chain: string) =>
      startGateway(
        loadConfig({
          GATEWAY_DATA_DIR: dataDir,
          GATEWAY_CONTRACTS_DIR: contractsDir,
          GATEWAY_PORT: '0',
          GATEWAY_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
          GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
          GATEWAY_REDELIVERY_DELAY_MS: '200',
          DATABASE_URL: PG_URL,
          DATABASE_SCHEMA: schema,
          GATEWAY_AUDIT_CHAIN: chain,
        }),
        { now: () => clock },
      );
    // One data directory: the same CA, keys and (embedded) bus, as processes of one installation share them.
    a = await start('gw-a');
    b = await start('gw-b');
  }, 120_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await a?.stop();
    await b?.stop();
    await reminders?.close();
    await dropSchema(schema);
    rmSync(dataDir, { recursive: true, force: true });
    delete process.env[SECRET_ENV];
  });

  it('list the same overdue case, set the same gauge, and send one reminder between them', async () => {
    expect([a.followUps.overdue.storeKind, b.followUps.overdue.storeKind]).toEqual(['postgres', 'postgres']);
    const msg = rueckmeldung();
    expect((await client(a, 'sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    // Opened by whichever gateway saw the delivery; readable through both.
    for (const gateway of [a, b]) {
      await eventually(
        async () => ((await gateway.followUps.overdue.get(msg.id)) ? true : undefined),
        30_000,
        `the case of ${msg.id}`,
      );
    }
    expect(await b.followUps.overdue.get(msg.id)).toMatchObject({
      receiverSystem: 'st-melde',
      deadline: '2026-11-20',
    });

    const token = async (gateway: Gateway) =>
      (
        await gateway.tokens.issue({
          role: 'operator',
          scope: '*',
          name: 'Leitstand',
          lifetimeMs: 3_600_000,
          createdBy: 'test',
        })
      ).token;
    const list = async (gateway: Gateway) =>
      client(gateway, null).call<OverdueList>('GET', '/v1/operations/overdue', undefined, {
        authorization: `Bearer ${await token(gateway)}`,
      });
    clock = new Date('2026-11-23T09:00:00.000Z'); // Monday: the Friday deadline has passed
    // Both replicas read (and so check) at the same moment.
    const [fromA, fromB] = await Promise.all([list(a), list(b)]);
    for (const r of [fromA, fromB]) {
      expect(r.status).toBe(200);
      expect(r.body.cases.map((c) => c.messageId)).toContain(msg.id);
    }
    for (const gateway of [a, b]) {
      const scraped = await client(gateway, null).call<string>('GET', '/metrics', undefined, {
        authorization: `Bearer ${await token(gateway)}`,
      });
      expect(scraped.body).toMatch(/gateway_overdue_answers\{system="st-melde"\} 1\b/);
    }
    await eventually(async () => (received.some((e) => e.messageId === msg.id) ? true : undefined), 15_000);
    await Promise.all([list(a), list(b), a.followUps.overdue.check(), b.followUps.overdue.check()]);
    await new Promise((r) => setTimeout(r, 500));
    expect(received.filter((e) => e.messageId === msg.id && e.status === 'overdue')).toHaveLength(1);
    const remindedAt = (await a.followUps.overdue.get(msg.id))?.remindedAt;
    expect(remindedAt).toBe('2026-11-23T09:00:00.000Z');
    expect((await list(b)).body.cases.find((c) => c.messageId === msg.id)?.remindedAt).toBe(remindedAt);
  }, 120_000);
});
