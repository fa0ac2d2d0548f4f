/**
 * A pull fetch is access evidence: every GET /v1/systems/{id}/inbox/{messageId} that hands out an item
 * writes one `fetched` audit entry (actor the receiving system, the message id, the digest), a
 * repeated fetch one more; a refused fetch writes none. `fetched` ranks with `delivered`, so the
 * message's status (status API and the audit message search) stays `delivered` until the
 * acknowledgement, and a fetch after it leaves it `acknowledged`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../gateway/ports/audit-store.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually, startTestGateway, type TestGateway } from '../support/gateway.ts';

describe('fetched audit events on the pull inbox (real HTTPS)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => t?.stop());

  it('one fetched entry per fetch, none for a refused one; the status stays delivered until the ack', async () => {
    const sn = t.client('sn-melde');
    const st = t.client('st-melde');
    const msg = rueckmeldung();
    expect((await sn.send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    await eventually(
      async () =>
        (
          await st.call<{ items: { messageId: string }[] }>('GET', '/v1/systems/st-melde/inbox?limit=500')
        ).body.items.some((i) => i.messageId === msg.id) || undefined,
      15_000,
      'the message in the st-melde inbox',
    );
    const fetchedEntries = async (): Promise<AuditEntry[]> =>
      t.gateway.auditStore.query({ messageId: msg.id, kind: 'fetched' });
    const status = async () =>
      (await sn.call<{ status: string; history: { event: string }[] }>('GET', `/v1/messages/${msg.id}`)).body;
    const searched = async () =>
      (await t.gateway.auditStore.searchMessages({ messageId: msg.id, limit: 1 })).items[0]?.status;

    // Listing is not a fetch: the list shows metadata of many items, the fetch hands one out.
    expect(await fetchedEntries()).toEqual([]);
    // The inbox item is visible before the delivery's audit event is committed.
    await eventually(
      async () => ((await status()).status === 'delivered' ? true : undefined),
      10_000,
      'delivered',
    );

    // Refused fetches leave no evidence of access: another system, an unknown message.
    expect((await sn.call('GET', `/v1/systems/st-melde/inbox/${msg.id}`)).status).toBe(403);
    expect(
      (await st.call('GET', '/v1/systems/st-melde/inbox/00000000-0000-4000-8000-00000000dead')).status,
    ).toBe(404);
    expect(await fetchedEntries()).toEqual([]);

    const first = await st.call<{ digest: string }>('GET', `/v1/systems/st-melde/inbox/${msg.id}`);
    expect(first.status).toBe(200);
    const second = await st.call<{ digest: string }>('GET', `/v1/systems/st-melde/inbox/${msg.id}`);
    expect(second.status).toBe(200);
    const two = await fetchedEntries();
    expect(two).toHaveLength(2);
    for (const entry of two) {
      expect(entry).toMatchObject({
        kind: 'fetched',
        actor: 'system:st-melde',
        messageId: msg.id,
        receiverSystem: 'st-melde',
        senderSystem: 'sn-melde',
        digest: first.body.digest,
        detail: { mode: 'pull', leasedUntil: expect.any(String) },
      });
    }
    const afterFetch = await status();
    expect(afterFetch.status).toBe('delivered');
    expect(afterFetch.history.filter((h) => h.event === 'fetched')).toHaveLength(2);
    await eventually(
      async () => ((await searched()) === 'delivered' ? true : undefined),
      5_000,
      'search: delivered',
    );

    expect((await st.call('POST', `/v1/systems/st-melde/inbox/${msg.id}/ack`)).status).toBe(200);
    expect((await status()).status).toBe('acknowledged');
    // Fetched again after the acknowledgement (evidence): recorded, and the status stays acknowledged.
    expect((await st.call('GET', `/v1/systems/st-melde/inbox/${msg.id}`)).status).toBe(200);
    const three = await fetchedEntries();
    expect(three).toHaveLength(3);
    expect(three.at(-1)!.detail).toEqual({ mode: 'pull', acknowledged: true });
    expect((await status()).status).toBe('acknowledged');
    await eventually(
      async () => ((await searched()) === 'acknowledged' ? true : undefined),
      5_000,
      'search: acknowledged',
    );
  }, 40_000);
});
