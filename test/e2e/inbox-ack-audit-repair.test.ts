/**
 * A pull acknowledgement the mailbox committed but the audit log refused (a real PostgreSQL error,
 * raised by a trigger, as when the store is restarting): the ack is answered with an error, the
 * receiver sends it again — here to two replicas at once — and the mailbox says `already`. The
 * resends write the missing `acknowledged` once (one key on one chain, whichever replica writes it),
 * and the sender gets its receipt as it would have after the first ack. Two gateways share one
 * PostgreSQL schema (audit log and mailbox) and one data directory, each on an audit chain of its own.
 * The embedded mode (SQLite audit log and mailbox) is refused the same way: a trigger, created from
 * outside on `audit.sqlite`, aborts the insert of that `acknowledged` (a real SQLite error in the
 * store's append transaction). Holding the file's write lock instead fails the append only after the
 * store's busy timeout (10 s a wait, the event loop blocked meanwhile: some 40 s a run).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACK_REPAIR_CHAIN } from '../../gateway/mailbox/pull-ack-audit.ts';
import { receiptIdFor } from '../../gateway/receipts/receipt-id.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually, startTestGateway, type TestGateway } from '../support/gateway.ts';
import {
  expectRepairedAcknowledged,
  refuseAcknowledgedInPg,
  refuseAcknowledgedInSqlite,
} from '../support/refuse-acknowledged.ts';
import { sharedPgGateways } from '../support/shared-pg-gateways.ts';

interface AckAnswer {
  messageId: string;
  status: string;
  repeated: boolean;
}

describe('a pull ack whose audit append failed is audited on its resend (two gateways, PostgreSQL)', () => {
  const shared = sharedPgGateways('ack_repair');

  it('the resends write one `acknowledged` and the sender gets its receipt', async () => {
    const { a, b } = shared;
    expect(a.gateway.mailbox.kind).toBe('postgres');
    const msg = rueckmeldung();
    const receiptId = receiptIdFor(msg.id);
    const kinds = async (messageId: string, kind: string) =>
      (await a.gateway.auditStore.query({ messageId })).filter((e) => e.kind === kind);

    expect((await a.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    // Delivered and audited before the trigger: it refuses nothing but the acknowledgement.
    await eventually(
      async () => ((await kinds(msg.id, 'delivered')).length > 0 ? true : undefined),
      15_000,
      'the 0201 delivered into the st-melde inbox',
    );
    expect((await a.client('st-melde').call('GET', `/v1/systems/st-melde/inbox/${msg.id}`)).status).toBe(200);

    const allow = await refuseAcknowledgedInPg(shared.schema, msg.id);
    let first: { status: number };
    try {
      first = await a.client('st-melde').call('POST', `/v1/systems/st-melde/inbox/${msg.id}/ack`);
    } finally {
      await allow();
    }
    expect(first.status).toBeGreaterThanOrEqual(500);
    // The window was hit: acknowledged in the mailbox (fetched again, it is no longer leased), not audited.
    expect((await a.gateway.mailbox.lease('st-melde', msg.id, new Date().toISOString()))?.leased).toBe(false);
    expect(await kinds(msg.id, 'acknowledged')).toEqual([]);

    // The receiver sends the ack again, to both replicas at once: the answer of a repeated ack.
    const path = `/v1/systems/st-melde/inbox/${msg.id}/ack`;
    const resends = await Promise.all([
      a.client('st-melde').call<AckAnswer>('POST', path),
      b.client('st-melde').call<AckAnswer>('POST', path),
    ]);
    for (const r of resends) {
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ messageId: msg.id, status: 'acknowledged', repeated: true });
    }
    expectRepairedAcknowledged(await kinds(msg.id, 'acknowledged'));

    // The receipt follows: in the sender's inbox, audited as delivered, once.
    await eventually(
      async () => ((await kinds(receiptId, 'delivered')).length > 0 ? true : undefined),
      15_000,
      'the receipt delivered to sn-melde',
    );
    const inbox = await a
      .client('sn-melde')
      .call<{ items: { messageId: string }[] }>('GET', '/v1/systems/sn-melde/inbox?limit=500');
    expect(inbox.body.items.filter((i) => i.messageId === receiptId)).toHaveLength(1);

    // A later resend finds the entry and writes nothing.
    expect((await b.client('st-melde').call('POST', path)).status).toBe(200);
    await a.gateway.followUps.receipts.idle();
    await b.gateway.followUps.receipts.idle();
    expect(await kinds(msg.id, 'acknowledged')).toHaveLength(1);
    expect(await kinds(receiptId, 'accepted')).toHaveLength(1);
    expect(await kinds(receiptId, 'delivered')).toHaveLength(1);
  }, 90_000);
});

describe('a pull ack whose audit append failed is audited on its resend (embedded: SQLite)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    // The embedded default, whatever the test run's environment says about PostgreSQL.
    t = await startTestGateway({ env: { DATABASE_URL: '', GATEWAY_AUDIT_CHECKPOINT_SECONDS: '3600' } });
  }, 60_000);
  afterAll(async () => t?.stop());

  it('the resend writes the `acknowledged` and the sender gets its receipt', async () => {
    expect(t.gateway.mailbox.kind).toBe('sqlite');
    const msg = rueckmeldung();
    const receiptId = receiptIdFor(msg.id);
    const kinds = async (messageId: string, kind: string) =>
      (await t.gateway.auditStore.query({ messageId })).filter((e) => e.kind === kind);

    expect((await t.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    await eventually(
      async () => ((await kinds(msg.id, 'delivered')).length > 0 ? true : undefined),
      15_000,
      'the 0201 delivered into the st-melde inbox',
    );
    const ackPath = `/v1/systems/st-melde/inbox/${msg.id}/ack`;

    const allow = await refuseAcknowledgedInSqlite(t.dataDir, msg.id);
    let first: { status: number };
    try {
      first = await t.client('st-melde').call('POST', ackPath);
    } finally {
      await allow();
    }
    expect(first.status).toBeGreaterThanOrEqual(500);
    expect((await t.gateway.mailbox.lease('st-melde', msg.id, new Date().toISOString()))?.leased).toBe(false);
    expect(await kinds(msg.id, 'acknowledged')).toEqual([]);

    const resend = await t.client('st-melde').call<AckAnswer>('POST', ackPath);
    expect(resend.status).toBe(200);
    expect(resend.body).toEqual({ messageId: msg.id, status: 'acknowledged', repeated: true });
    const acknowledged = await kinds(msg.id, 'acknowledged');
    expect(acknowledged).toHaveLength(1);
    expect(acknowledged[0]).toMatchObject({
      chain: ACK_REPAIR_CHAIN,
      detail: { mode: 'pull', recovered: true },
    });

    await eventually(
      async () => ((await kinds(receiptId, 'delivered')).length > 0 ? true : undefined),
      15_000,
      'the receipt delivered to sn-melde',
    );
    expect((await t.client('st-melde').call('POST', ackPath)).status).toBe(200);
    await t.gateway.followUps.receipts.idle();
    expect(await kinds(msg.id, 'acknowledged')).toHaveLength(1);
    expect(await kinds(receiptId, 'accepted')).toHaveLength(1);
  }, 90_000);
});
