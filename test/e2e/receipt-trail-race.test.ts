/**
 * One receipt, two `delivered` events (the fault suite's `auditedTwice`, test/faults/kafka-faults.test.ts):
 * the trail of a receipt put into a pull sender's inbox is written by the process that put it, right
 * after the put; a process that meets the receipt in the inbox without its trail (the catch-up at
 * its start, receipt-issuer.ts completeTrail) writes the trail for it, taking the first process for
 * crashed. While the first process's append is merely slow — PostgreSQL restarting, a busy group
 * commit — that is the same picture, and both trails were written: two `accepted`, two `delivered`.
 *
 * Reproduced with two real gateways on one PostgreSQL schema (chains gw-a and gw-b) and one data
 * directory: gateway a issues the receipt of an acknowledgement and a trigger holds its trail's
 * INSERT on an advisory lock this test holds; gateway b starts meanwhile (as a SIGKILLed replica
 * restarts) and its catch-up meets the receipt in the inbox. Then the lock is let go.
 */

import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { receiptIdFor } from '../../gateway/receipts/receipt-id.ts';
import { dropSchema, freshSchemaName, PG_URL, withPgClient } from '../conformance/pg-test-schema.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually, startTestGateway, type TestGateway, tempDir } from '../support/gateway.ts';

/** The advisory lock the trigger waits for (any number no other test takes). */
const HOLD_KEY = 7_340_021;

describe('the trail of a receipt whose first writer is slow, met by another process', () => {
  const schema = freshSchemaName('receipt_race');
  const dataDir = tempDir('receipt-race');
  const started: TestGateway[] = [];
  const env = (chain: string) => ({
    DATABASE_URL: PG_URL,
    DATABASE_SCHEMA: schema,
    GATEWAY_AUDIT_CHAIN: chain,
    GATEWAY_AUDIT_CHECKPOINT_SECONDS: '3600',
  });
  const holder = new pg.Client({ connectionString: PG_URL });

  afterAll(async () => {
    await holder.end().catch(() => {});
    for (const g of started.reverse()) await g.stop();
    await dropSchema(schema);
  });

  it('writes one trail: one accepted, one delivered', async () => {
    const a = await startTestGateway({ dataDir, env: env('gw-a') });
    started.push(a);
    expect(a.gateway.auditStore.kind).toBe('postgres');
    const msg = rueckmeldung();
    const receiptId = receiptIdFor(msg.id);
    // Holds the receipt's `accepted` row (the first of its trail) until the test lets it go.
    await withPgClient(schema, async (c) => {
      await c.query(`CREATE FUNCTION hold_receipt_trail() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.message_id = '${receiptId}' AND NEW.kind = 'accepted' THEN
            PERFORM pg_advisory_xact_lock(${HOLD_KEY});
          END IF;
          RETURN NEW;
        END $$`);
      await c.query(`CREATE TRIGGER hold_receipt_trail BEFORE INSERT ON audit_entries
        FOR EACH ROW EXECUTE FUNCTION hold_receipt_trail()`);
    });
    await holder.connect();
    await holder.query('SELECT pg_advisory_lock($1)', [HOLD_KEY]);

    expect((await a.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    await eventually(
      async () => ((await a.gateway.mailbox.get('st-melde', msg.id)) ? true : undefined),
      15_000,
      'the 0201 in the st-melde inbox',
    );
    const ack = await a
      .client('st-melde')
      .call<{ status: string }>('POST', `/v1/systems/st-melde/inbox/${msg.id}/ack`);
    expect(ack.body.status).toBe('acknowledged');
    // Gateway a put the receipt into sn-melde's inbox and its trail waits at the trigger.
    await eventually(
      async () => {
        const waiting = await holder.query(
          `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = $1`,
          [HOLD_KEY],
        );
        return (waiting.rowCount ?? 0) > 0 ? true : undefined;
      },
      15_000,
      "gateway a's receipt trail held at the trigger",
    );
    expect(await a.gateway.mailbox.get('sn-melde', receiptId)).toBeDefined();

    // Another process starts: its catch-up hands the acknowledgement to its receipt issuer.
    const { rows: held } = await holder.query<{ pid: number }>(
      `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = $1`,
      [HOLD_KEY],
    );
    const { rows: before } = await holder.query<{ pid: number }>('SELECT pid FROM pg_stat_activity');
    const b = await startTestGateway({ dataDir, env: env('gw-b') });
    started.push(b);
    // Until its catch-up is done, or it waits for gateway a's trail (a correct issuer may): seen as
    // a backend b opened, blocked by a's held transaction or at the trigger itself, where it stays
    // until the lock is let go however long this test waits; b waiting otherwise is given 5 s, as ever.
    const bWaiting = async () =>
      (
        await holder.query(
          `SELECT pid FROM pg_stat_activity WHERE pid <> ALL($2::int[]) AND (pg_blocking_pids(pid) && $1::int[]
             OR pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = $3))`,
          [held.map((r) => r.pid), before.map((r) => r.pid), HOLD_KEY],
        )
      ).rowCount;
    await Promise.race([
      b.gateway.followUps.caughtUp,
      eventually(async () => (((await bWaiting()) ?? 0) > 0 ? true : undefined), 5_000).catch(() => {}),
    ]);
    await holder.query('SELECT pg_advisory_unlock($1)', [HOLD_KEY]);
    await b.gateway.followUps.caughtUp;
    await a.gateway.followUps.receipts.idle();
    await b.gateway.followUps.receipts.idle();

    const kinds = (await a.gateway.auditStore.query({ messageId: receiptId })).map((e) => e.kind);
    expect(kinds.filter((k) => k === 'delivered')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'accepted')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'signed')).toHaveLength(1);
    const inbox = await a.gateway.mailbox.list('sn-melde', { limit: 1000 });
    expect(inbox.items.filter((i) => i.messageId === receiptId)).toHaveLength(1);
  }, 120_000);
});
