/**
 * Concurrent requests with one nachrichtenUUID at two gateway processes sharing PostgreSQL (one
 * installation behind a load balancer): exactly one is accepted across both, every other gets 409
 * GW_ERR_DUPLICATE_MESSAGE, and the shared trail has one `accepted`.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { ClientResponse, SystemClient } from '../../gateway/cli/system-client.ts';
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
});
