/**
 * A system's daily message quota with two gateways on one PostgreSQL (DATABASE_URL), as the
 * deployment runs two replicas: submissions spread over both get `messagesPerDay` 202s in total
 * (not that many per process), then 429 GW_ERR_QUOTA_EXCEEDED on both, each refusal audited. A
 * gateway that finds no count for the day (the first start after the upgrade that brought the
 * shared count) starts it at the audit trail's accepted messages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rueckmeldung } from '../support/fixtures.ts';
import { contractsWith, startTestGateway, type TestGateway, tempDir } from '../support/gateway.ts';
import { dropSchema, freshSchemaName, PG_URL, withPgClient } from './pg-test-schema.ts';

const QUOTA = 4;

interface Problem {
  code: string;
}

describe('a daily message quota shared by two gateways on one PostgreSQL', () => {
  const schema = freshSchemaName('quota_gw');
  const dataDir = tempDir('pg-quota');
  let contractsDir: string;
  let a: TestGateway;
  let b: TestGateway;
  const start = (chain: string) =>
    startTestGateway({
      dataDir,
      contractsDir,
      env: {
        DATABASE_URL: PG_URL,
        DATABASE_SCHEMA: schema,
        GATEWAY_AUDIT_CHAIN: chain,
        GATEWAY_AUDIT_CHECKPOINT_SECONDS: '3600',
      },
    });

  beforeAll(async () => {
    contractsDir = contractsWith((systems) =>
      systems.map((s) => (s.id === 'sn-melde' ? { ...s, quota: { messagesPerDay: QUOTA } } : s)),
    );
    a = await start('gw-a');
    b = await start('gw-b');
  }, 120_000);
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await dropSchema(schema);
  });

  const send = (gateway: TestGateway) =>
    gateway.client('sn-melde').send('sn-melde', rueckmeldung().body, 'application/json');

  it('accepts the quota once over both gateways, then refuses on both with 429 and its code', async () => {
    // Refused for another reason: uses no quota. Both gateways have counted for the day since then,
    // as running replicas have; counting per process, each would now accept QUOTA on its own.
    for (const gateway of [a, b]) {
      const wrongType = await gateway.client('sn-melde').send('sn-melde', rueckmeldung().body, 'text/plain');
      expect(wrongType.status).toBe(415);
    }

    const burst = await Promise.all(Array.from({ length: 3 * QUOTA }, (_, i) => send(i % 2 ? b : a)));
    const statuses = burst.map((r) => r.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(QUOTA);
    expect(statuses.filter((s) => s === 429)).toHaveLength(2 * QUOTA);
    for (const r of burst.filter((r) => r.status === 429)) {
      expect((r.body as Problem).code).toBe('GW_ERR_QUOTA_EXCEEDED');
    }
    for (const gateway of [a, b]) {
      const over = await send(gateway);
      expect(over.status).toBe(429);
      expect((over.body as Problem).code).toBe('GW_ERR_QUOTA_EXCEEDED');
      expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    }

    // Every refusal is audited, by the gateway that refused it.
    const refusals = (await a.gateway.auditStore.query({ kind: 'rejected', limit: 1_000 })).filter(
      (e) => e.detail.code === 'GW_ERR_QUOTA_EXCEEDED' && e.senderSystem === 'sn-melde',
    );
    expect(refusals).toHaveLength(2 * QUOTA + 2);
    expect(new Set(refusals.map((e) => e.chain))).toEqual(new Set(['gw-a', 'gw-b']));
  }, 60_000);

  it('starts a missing day count at the audit trail: an upgrade mid-day hands out nothing again', async () => {
    // As before the shared count existed: no row for today. A restarted gateway seeds it.
    await withPgClient(schema, (c) => c.query('DELETE FROM message_quota'));
    await b.stop();
    b = await start('gw-b');
    const over = await send(b);
    expect(over.status).toBe(429);
    expect((over.body as Problem).code).toBe('GW_ERR_QUOTA_EXCEEDED');
    const used = await withPgClient(schema, async (c) =>
      (await c.query(`SELECT used FROM message_quota WHERE system_id = 'sn-melde'`)).rows.map((r) => r.used),
    );
    expect(used).toEqual([QUOTA]);
  }, 60_000);
});
