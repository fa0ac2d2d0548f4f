/**
 * Receipts from two gateway processes sharing one PostgreSQL (audit log and mailbox) and one data
 * directory: when both react to the same acknowledgement at the same moment, the sender still gets
 * one receipt (same derived nachrichtenUUID; the shared delivery ledger lets one through).
 */
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../gateway/audit/audit-log.ts';
import { receiptIdFor } from '../../gateway/receipts/receipt-id.ts';
import { deliveryDrained } from '../support/delivery-drained.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually } from '../support/gateway.ts';
import { sharedPgGateways } from '../support/shared-pg-gateways.ts';

describe('receipts with two gateways on one PostgreSQL', () => {
  const shared = sharedPgGateways('receipts');

  it('two processes issuing the receipt of one acknowledgement at once deliver it once', async () => {
    const { a, b } = shared;
    expect(a.gateway.mailbox.kind).toBe('postgres');
    const msg = rueckmeldung();
    expect((await a.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    await eventually(
      async () => ((await b.gateway.mailbox.get('st-melde', msg.id)) ? true : undefined),
      15_000,
      'the 0201 in the shared st-melde inbox',
    );
    // The acknowledgement, audited past both processes' listeners; then both react to it at once.
    const item = await b.gateway.mailbox.ack('st-melde', msg.id);
    if (!item || item === 'already') throw new Error('not acknowledged');
    const ack = await new AuditLog(b.gateway.auditStore, { chain: 'gw-b' }).record({
      kind: 'acknowledged',
      actor: 'system:st-melde',
      messageId: msg.id,
      sender: item.senderAuthority,
      receiver: item.receiverAuthority,
      senderSystem: item.senderSystem,
      receiverSystem: 'st-melde',
      messageType: item.messageType,
      digest: item.digest,
      detail: { mode: 'pull' },
    });
    const outcomes = await Promise.all([
      a.gateway.followUps.receipts.issueFor(ack),
      b.gateway.followUps.receipts.issueFor(ack),
    ]);
    expect(outcomes.some((o) => o.issued)).toBe(true);

    const receiptId = receiptIdFor(msg.id);
    await eventually(
      async () =>
        (await a.gateway.auditStore.query({ messageId: receiptId, kind: 'delivered' })).length > 0
          ? true
          : undefined,
      15_000,
      'the receipt delivered',
    );
    // Give a second copy, if one was published, the time to be handled too: both issuers done, and
    // everything on the bus for sn-melde handled.
    await a.gateway.followUps.receipts.idle();
    await b.gateway.followUps.receipts.idle();
    await deliveryDrained(a.gateway, 'sn-melde');
    const inbox = await a.gateway.mailbox.list('sn-melde', { limit: 1000 });
    expect(inbox.items.filter((i) => i.messageId === receiptId)).toHaveLength(1);
    expect(await a.gateway.auditStore.query({ messageId: receiptId, kind: 'delivered' })).toHaveLength(1);
    const status = await a.client('sn-melde').call<{ status: string }>('GET', `/v1/messages/${msg.id}`);
    expect(status.body.status).toBe('acknowledged');
  });
});
