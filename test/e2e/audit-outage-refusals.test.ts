/**
 * A refusal is answered with its own problem even when the audit store cannot take the `rejected`
 * event: an audit-store outage must not turn a 4xx into a 5xx (readiness reports the store; the
 * failure to record is logged). The store here is really unavailable — closed under the running
 * gateway — for each place a refusal arises: the ingress pipeline, route authentication, the router.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SystemClient } from '../../gateway/cli/system-client.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

describe('refusals while the audit store is down', () => {
  let t: TestGateway;
  let sn: SystemClient;

  beforeAll(async () => {
    t = await startTestGateway();
    sn = t.client('sn-melde');
    await t.gateway.auditStore.close();
    await expect(t.gateway.audit.record({ kind: 'rejected', actor: 'test' })).rejects.toThrow();
  });
  afterAll(async () => t?.stop());

  function expectProblem(
    r: { status: number; headers: Record<string, unknown>; body: unknown },
    status: number,
    code: string,
  ) {
    expect(r.status).toBe(status);
    expect(String(r.headers['content-type'])).toContain('application/problem+json');
    expect(r.body).toMatchObject({ status, code });
  }

  it('ingress: malformed and invalid payloads keep their 4xx', async () => {
    expectProblem(
      await sn.send('sn-melde', '{"vorgang": {"art": ', 'application/json'),
      400,
      'GW_ERR_MALFORMED_PAYLOAD',
    );
    const msg = rueckmeldung();
    const body = JSON.parse(msg.body.toString()) as Record<string, unknown>;
    delete body.vorgang;
    const r = await sn.send('sn-melde', JSON.stringify(body), 'application/json');
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
  });

  it('route authentication: a request without a client certificate keeps its 401', async () => {
    const anonymous = t.client(null);
    const r = await anonymous.send('sn-melde', rueckmeldung().body, 'application/json');
    expectProblem(r, 401, 'GW_ERR_CLIENT_CERT_REQUIRED');
  });

  it('router: an unknown route keeps its 404, and the process still serves', async () => {
    expectProblem(await sn.call('GET', '/v1/no-such-route'), 404, 'GW_ERR_NOT_FOUND');
    expect((await sn.call('GET', '/health/live')).status).toBe(200);
  });
});
