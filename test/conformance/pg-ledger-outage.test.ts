/**
 * A push the receiver took (2xx) whose delivery-ledger row cannot be written at that moment — the
 * ledger's database away for a while — is recorded once the database is back, and not pushed
 * again: the gateway retries the ledger, not the push. Found by the fault suite, where a PostgreSQL
 * crash right after a push let the redelivered record push the message a second time. The outage is
 * real PostgreSQL refusing the ledger table (renamed away for 1.5 s before the receiver answers).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rueckmeldung } from '../support/fixtures.ts';
import {
  eventually,
  pushContracts,
  startTestGateway,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';
import { type PushReceiver, startPushReceiver } from '../support/push-receiver.ts';
import { dropSchema, freshSchemaName, PG_URL, withPgClient } from './pg-test-schema.ts';

describe('a delivery-ledger outage right after a push', () => {
  const schema = freshSchemaName('ledger_gw');
  const dataDir = tempDir('pg-ledger');
  let gateway: TestGateway;
  let receiver: PushReceiver;
  const pushes: string[] = [];
  let outage: Promise<unknown> | undefined;
  const rename = (from: string, to: string) =>
    withPgClient(schema, (c) => c.query(`ALTER TABLE ${from} RENAME TO ${to}`));

  beforeAll(async () => {
    receiver = await startPushReceiver(dataDir, async (request) => {
      pushes.push(request.messageId);
      if (pushes.length === 1) {
        // Before the 2xx leaves: the ledger write that follows it finds no table.
        await rename('mailbox_delivered', 'mailbox_delivered_away');
        outage = sleep(1500).then(() => rename('mailbox_delivered_away', 'mailbox_delivered'));
      }
      return 204;
    });
    gateway = await startTestGateway({
      dataDir,
      contractsDir: pushContracts({ 'st-melde': receiver.url }),
      env: { DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema, GATEWAY_REDELIVERY_DELAY_MS: '200' },
    });
  }, 120_000);
  afterAll(async () => {
    await gateway?.stop();
    await receiver?.close();
    await dropSchema(schema);
  });

  it('records the push when the database is back and never pushes the message again', async () => {
    const msg = rueckmeldung();
    expect((await gateway.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(
      202,
    );
    await eventually(
      async () =>
        (await gateway.gateway.auditStore.query({ messageId: msg.id, kind: 'delivered' })).length > 0 ||
        undefined,
      30_000,
      'the delivered event',
    );
    await outage;
    // Ten redelivery delays: a record failed by the outage would have been pushed again by now.
    await sleep(2000);
    expect(pushes.filter((id) => id === msg.id)).toHaveLength(1);
    const ledger = await withPgClient(schema, (c) =>
      c.query('SELECT system_id FROM mailbox_delivered WHERE message_id = $1', [msg.id]),
    );
    expect(ledger.rows).toEqual([{ system_id: 'st-melde' }]);
  }, 60_000);
});
