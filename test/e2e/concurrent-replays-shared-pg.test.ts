/**
 * Concurrent requests with one nachrichtenUUID at two gateway processes sharing PostgreSQL (one
 * installation behind a load balancer): exactly one is accepted across both, every other gets 409
 * GW_ERR_DUPLICATE_MESSAGE, and the shared trail has one `accepted`. An accepted id's claim is left
 * to expire rather than deleted; a replay at the other process meeting it is refused at once.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { ClientResponse, SystemClient } from '../../gateway/cli/system-client.ts';
import { LEASE_MS } from '../../gateway/pipeline/pg-message-id-leases.ts';
import { withPgClient } from '../conformance/pg-test-schema.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually } from '../support/gateway.ts';
import { sharedPgGateways } from '../support/shared-pg-gateways.ts';

interface Problem {
  code: string;
}

/** Requests in flight at once, half at each process. */
const CONCURRENT = 16;

describe('concurrent requests with one nachrichtenUUID at two processes sharing PostgreSQL', () => {
  const gateways = sharedPgGateways('idclaims');
  let clients: SystemClient[];

  // Closed by the gateways' stop().
  beforeAll(() => {
    clients = [gateways.a.client('sn-melde'), gateways.b.client('sn-melde')];
  });

  async function burst(body: string): Promise<ClientResponse<unknown>[]> {
    // Every connection open before the burst, so that the requests really run at once.
    const at = (i: number) => clients[i % clients.length]!;
    await Promise.all(Array.from({ length: CONCURRENT }, (_, i) => at(i).call('GET', '/health/ready')));
    return Promise.all(
      Array.from({ length: CONCURRENT }, (_, i) => at(i).send('sn-melde', body, 'application/json')),
    );
  }

  it('accepts a message sent to both processes at once exactly once', async () => {
    for (let round = 0; round < 3; round++) {
      const msg = rueckmeldung();
      const responses = await burst(msg.body);
      expect(responses.map((r) => r.status).sort()).toEqual([
        202,
        ...Array<number>(CONCURRENT - 1).fill(409),
      ]);
      for (const r of responses.filter((r) => r.status === 409))
        expect((r.body as Problem).code).toBe('GW_ERR_DUPLICATE_MESSAGE');
      const trail = await gateways.a.gateway.auditStore.query({ messageId: msg.id, limit: 10_000 });
      const kinds = (kind: string) => trail.filter((e) => e.kind === kind);
      expect(kinds('accepted')).toHaveLength(1);
      expect(kinds('queued')).toHaveLength(1);
      expect(kinds('rejected')).toHaveLength(CONCURRENT - 1);
      await eventually(async () =>
        (await gateways.a.gateway.mailbox.get('st-melde', msg.id)) ? true : undefined,
      );
    }
  });

  it("leaves an accepted id's claim to expire; a replay at the other process is refused at once", async () => {
    const msg = rueckmeldung();
    expect((await clients[0]!.send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    // Past the answer, where a release would have deleted the row.
    await new Promise((r) => setTimeout(r, 300));
    const schema = gateways.a.gateway.config.databaseSchema!;
    const rows = await withPgClient(schema, (c) =>
      c.query('SELECT message_id FROM message_id_claim WHERE message_id = $1', [msg.id]),
    );
    expect(rows.rowCount, 'the claim row of the accepted id').toBe(1);
    const started = Date.now();
    const replay = await clients[1]!.send('sn-melde', msg.body, 'application/json');
    expect(replay.status).toBe(409);
    expect((replay.body as Problem).code).toBe('GW_ERR_DUPLICATE_MESSAGE');
    // Not after the lease: the trail was asked before waiting for the row's holder.
    expect(Date.now() - started).toBeLessThan(LEASE_MS / 10);
  });
});
