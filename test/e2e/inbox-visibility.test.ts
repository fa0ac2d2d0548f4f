/**
 * Issue 8, pull inbox visibility timeout over real HTTPS (mTLS): fetching an item leases it; while
 * leased and unacknowledged it is left out of the listing, a second fetch extends the lease, and
 * when the lease ends it is listed again; acknowledging works during the lease and is final.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually, startTestGateway, type TestGateway } from '../support/gateway.ts';

const VISIBILITY_MS = 1_500;

interface Listed {
  messageId: string;
}

describe('pull inbox visibility timeout (real HTTPS)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({ env: { GATEWAY_INBOX_VISIBILITY_TIMEOUT_MS: String(VISIBILITY_MS) } });
  });
  afterAll(async () => t?.stop());

  it('hides a fetched item until its lease ends, extends the lease on a second fetch, and ack is final', async () => {
    const sn = t.client('sn-melde');
    const st = t.client('st-melde');
    const listed = async () =>
      (await st.call<{ items: Listed[] }>('GET', '/v1/systems/st-melde/inbox?limit=500')).body.items.map(
        (i) => i.messageId,
      );
    const a = rueckmeldung();
    const b = rueckmeldung();
    for (const msg of [a, b])
      expect((await sn.send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    await eventually(
      async () => {
        const ids = await listed();
        return ids.includes(a.id) && ids.includes(b.id) ? true : undefined;
      },
      15_000,
      'both messages in the st-melde inbox',
    );

    // Fetch a: leased, out of the listing; b is still listed.
    const fetchedAt = Date.now();
    const first = await st.call<{ messageId: string; leasedUntil: string }>(
      'GET',
      `/v1/systems/st-melde/inbox/${a.id}`,
    );
    expect(first.status).toBe(200);
    expect(first.body.messageId).toBe(a.id);
    const until = Date.parse(first.body.leasedUntil);
    expect(until - fetchedAt).toBeGreaterThanOrEqual(VISIBILITY_MS - 50);
    expect(until - Date.now()).toBeLessThanOrEqual(VISIBILITY_MS);
    let ids = await listed();
    expect(ids).not.toContain(a.id);
    expect(ids).toContain(b.id);

    // A second fetch during the lease extends it.
    await new Promise((r) => setTimeout(r, VISIBILITY_MS / 2));
    const second = await st.call<{ leasedUntil: string }>('GET', `/v1/systems/st-melde/inbox/${a.id}`);
    expect(second.status).toBe(200);
    const extended = Date.parse(second.body.leasedUntil);
    expect(extended).toBeGreaterThan(until);
    // Past the first lease's end, within the extended one: still hidden.
    await new Promise((r) => setTimeout(r, Math.max(0, until - Date.now() + 100)));
    expect(Date.now()).toBeLessThan(extended);
    expect(await listed()).not.toContain(a.id);

    // Not acknowledged: listed again when the lease ends, in its place before b.
    await new Promise((r) => setTimeout(r, Math.max(0, extended - Date.now() + 50)));
    ids = await listed();
    expect(ids).toContain(a.id);
    expect(ids.indexOf(a.id)).toBeLessThan(ids.indexOf(b.id));

    // Fetched again and acknowledged during the lease: gone, and it does not come back.
    expect((await st.call('GET', `/v1/systems/st-melde/inbox/${a.id}`)).status).toBe(200);
    const ack = await st.call<{ status: string }>('POST', `/v1/systems/st-melde/inbox/${a.id}/ack`);
    expect(ack.status).toBe(200);
    expect(ack.body.status).toBe('acknowledged');
    await new Promise((r) => setTimeout(r, VISIBILITY_MS + 100));
    ids = await listed();
    expect(ids).not.toContain(a.id);
    expect(ids).toContain(b.id);
    // An acknowledged item can still be fetched (evidence), without a lease.
    const late = await st.call<{ leasedUntil?: string }>('GET', `/v1/systems/st-melde/inbox/${a.id}`);
    expect(late.status).toBe(200);
    expect(late.body.leasedUntil).toBeUndefined();

    // Another system cannot fetch (and so cannot lease) st-melde's item.
    expect((await sn.call('GET', `/v1/systems/st-melde/inbox/${b.id}`)).status).toBe(403);
    expect(await listed()).toContain(b.id);
  }, 40_000);
});
