/**
 * Two gateway processes' worth of gateways sharing one PostgreSQL (DATABASE_URL): a Rückmeldung sent
 * through gateway A is pulled and acknowledged through gateway B (shared mailbox), the status seen
 * at A is B's acknowledgement (shared audit log), each gateway writes its own audit chain, and one
 * signed checkpoint covers both — the export verifies with audit.pub alone.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAuditPublicKey } from '../../gateway/audit/audit-key.ts';
import { verifyExport } from '../../gateway/audit/verify-export.ts';
import { receiptIdFor } from '../../gateway/receipts/receipt-id.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually } from '../support/gateway.ts';
import { sharedPgGateways } from '../support/shared-pg-gateways.ts';
import { collect } from './audit-tamper.conformance.ts';

describe('two gateways on one PostgreSQL', () => {
  const shared = sharedPgGateways('gateways');

  it('share mailbox and audit log, keep one chain each, and sign one checkpoint over both', async () => {
    const { a, b } = shared;
    expect(a.gateway.auditStore.kind).toBe('postgres');
    expect(b.gateway.mailbox.kind).toBe('postgres');
    const msg = rueckmeldung();
    expect((await a.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    const st = b.client('st-melde');
    await eventually(
      async () => {
        const inbox = await st.call<{ items: { messageId: string }[] }>('GET', '/v1/systems/st-melde/inbox');
        return inbox.body.items.find((i) => i.messageId === msg.id);
      },
      30_000,
      'the 0201 in the st-melde inbox, read through gateway B',
    );
    expect((await st.call('POST', `/v1/systems/st-melde/inbox/${msg.id}/ack`)).status).toBe(200);
    // Acknowledged once: gateway A knows, through the shared mailbox, that this is a repeat.
    const again = await a
      .client('st-melde')
      .call<{ repeated: boolean }>('POST', `/v1/systems/st-melde/inbox/${msg.id}/ack`);
    expect(again.body.repeated).toBe(true);
    const status = await a.client('sn-melde').call<{ status: string }>('GET', `/v1/messages/${msg.id}`);
    expect(status.body.status).toBe('acknowledged');

    const store = a.gateway.auditStore;
    const trail = await store.query({ messageId: msg.id });
    // Each gateway writes its own chain; the delivery stage writes the chain of the record's partition
    // (whichever process consumes it), so that a replayed partition meets its idempotency keys.
    const chains = [...new Set(trail.map((e) => e.chain))];
    expect(chains.filter((c) => !c.startsWith('delivery.')).sort()).toEqual(['gw-a', 'gw-b']);
    const deliveryChain = chains.find((c) => /^delivery\.st-melde\.\d+$/.test(c));
    expect(deliveryChain).toBeDefined();
    const [row] = (await store.searchMessages({ messageId: msg.id, limit: 1 })).items;
    expect(row).toMatchObject({
      status: 'acknowledged',
      senderSystem: 'sn-melde',
      receiverSystem: 'st-melde',
    });

    // The acknowledgement's receipt travels back to sn-melde on its own, its audit events after each
    // step: the checkpoint must come after the last of them, or that one is rightly reported unsigned.
    await eventually(
      async () =>
        (await store.query({ messageId: receiptIdFor(msg.id), kind: 'delivered' })).length > 0 || undefined,
      30_000,
      'the receipt delivered to sn-melde',
    );
    const checkpoint = (await store.createCheckpoint(b.gateway.auditKey.signer))!;
    expect(checkpoint.heads.map((h) => h.chain)).toEqual(
      expect.arrayContaining(['gw-a', 'gw-b', deliveryChain]),
    );
    const pub = readFileSync(path.join(shared.dataDir, 'pki', 'audit.pub'), 'utf8');
    expect(a.gateway.auditKey.keyId).toBe(b.gateway.auditKey.keyId);
    const result = await verifyExport(await collect(store), loadAuditPublicKey(pub));
    expect(result).toMatchObject({ ok: true, unsignedEntries: 0 });
    expect(result.heads.map((h) => h.chain)).toEqual(expect.arrayContaining(['gw-a', 'gw-b']));
  }, 120_000);
});
