/** Quotas per system: one system exceeding its quota gets 429 problems; others and probes are unaffected. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auswertung, rueckmeldung } from '../support/fixtures.ts';
import { contractsWith, startTestGateway, type TestGateway } from '../support/gateway.ts';

describe('rate limits per system', () => {
  let t: TestGateway;
  beforeAll(async () => {
    const contractsDir = contractsWith((systems) =>
      systems.map((s) => (s.id === 'sn-melde' ? { ...s, requestsPerMinute: 5 } : s)),
    );
    t = await startTestGateway({ contractsDir, env: { GATEWAY_REQUESTS_PER_MINUTE: '100' } });
  });
  afterAll(async () => t?.stop());

  it('refuses the request over the quota with 429, Retry-After and a stable code, and audits it', async () => {
    const sn = t.client('sn-melde');
    for (let i = 0; i < 5; i++)
      expect((await sn.send('sn-melde', rueckmeldung().body, 'application/json')).status).toBe(202);
    const over = await sn.send('sn-melde', rueckmeldung().body, 'application/json');
    expect(over.status).toBe(429);
    expect(over.headers['content-type']).toContain('application/problem+json');
    expect((over.body as { code: string }).code).toBe('GW_ERR_RATE_LIMITED');
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    const rejected = await t.gateway.auditStore.query({ kind: 'rejected', limit: 100 });
    expect(
      rejected.some((e) => e.detail.code === 'GW_ERR_RATE_LIMITED' && e.senderSystem === 'sn-melde'),
    ).toBe(true);

    // Another system and the probes are not affected.
    const st = t.client('st-melde');
    expect(
      (await st.send('st-melde', auswertung(rueckmeldung().id).body, 'application/xml')).status,
    ).not.toBe(429);
    for (let i = 0; i < 10; i++) expect((await sn.call('GET', '/health/ready')).status).toBe(200);
  });
});
