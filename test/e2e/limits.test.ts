/**
 * Issue 8, limits per contract and per system over real HTTPS (mTLS):
 * - a contract's `requirements.maxBytes` below the gateway-wide body limit: a larger body on that
 *   contract is refused 413 GW_ERR_PAYLOAD_TOO_LARGE, audited, and nothing is published;
 * - a system's `quota.messagesPerDay`: over it, 429 GW_ERR_QUOTA_EXCEEDED (not the rate limit's
 *   code), audited; refused messages do not use up the quota; other systems are unaffected; the
 *   count survives a restart (seeded from the audit trail).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { auswertung, rueckmeldung } from '../support/fixtures.ts';
import {
  contractsWith,
  eventually,
  startTestGateway,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';

const CONTRACT_MAX_BYTES = 16 * 1024;
const QUOTA = 3;

interface Problem {
  code: string;
  detail: string;
}

describe('body size limit per contract and message quota per system (real HTTPS)', () => {
  let t: TestGateway;
  let dataDir: string;
  let contractsDir: string;

  beforeAll(async () => {
    dataDir = tempDir('limits');
    contractsDir = contractsWith((systems) =>
      systems.map((s) => (s.id === 'sn-melde' ? { ...s, quota: { messagesPerDay: QUOTA } } : s)),
    );
    const file = path.join(contractsDir, 'xmeld-rueckmeldung.contract.yaml');
    const contract = YAML.parse(readFileSync(file, 'utf8'));
    contract.requirements.maxBytes = CONTRACT_MAX_BYTES;
    writeFileSync(file, YAML.stringify(contract));
    // The gateway-wide limit stays far above the contract's.
    t = await startTestGateway({
      dataDir,
      contractsDir,
      env: { GATEWAY_BODY_LIMIT_BYTES: String(1024 * 1024) },
    });
  });
  afterAll(async () => t?.stop());

  it('refuses a body over its contract limit (below the global one) with 413, audited, nothing published', async () => {
    const sn = t.client('sn-melde');
    const big = rueckmeldung((d) => {
      d.person.padding = 'x'.repeat(CONTRACT_MAX_BYTES);
    });
    expect(Buffer.byteLength(big.body)).toBeGreaterThan(CONTRACT_MAX_BYTES);
    const refused = await sn.send('sn-melde', big.body, 'application/json');
    expect(refused.status).toBe(413);
    expect(refused.headers['content-type']).toContain('application/problem+json');
    expect((refused.body as Problem).code).toBe('GW_ERR_PAYLOAD_TOO_LARGE');
    expect((refused.body as Problem).detail).toContain(
      `contract xmeld-rueckmeldung allows at most ${CONTRACT_MAX_BYTES} bytes`,
    );
    const rejected = await t.gateway.auditStore.query({ kind: 'rejected', limit: 1_000 });
    expect(
      rejected.some((e) => e.detail.code === 'GW_ERR_PAYLOAD_TOO_LARGE' && e.senderSystem === 'sn-melde'),
    ).toBe(true);

    // Under the limit on the same contract: accepted and delivered; the big one never was.
    const small = rueckmeldung();
    expect((await sn.send('sn-melde', small.body, 'application/json')).status).toBe(202);
    await eventually(
      async () => ((await t.gateway.mailbox.wasDelivered('st-melde', small.id)) ? true : undefined),
      15_000,
      'the small message in the st-melde inbox',
    );
    for (const kind of ['accepted', 'queued', 'delivered'] as const)
      expect(await t.gateway.auditStore.query({ messageId: big.id, kind })).toEqual([]);
    expect(await t.gateway.mailbox.wasDelivered('st-melde', big.id)).toBe(false);
  });

  it('refuses messages over the daily quota with 429 and its own code, across a restart', async () => {
    // One accepted above; the 413 and this 415 did not use up the quota.
    const sn = t.client('sn-melde');
    expect((await sn.send('sn-melde', rueckmeldung().body, 'text/plain')).status).toBe(415);
    for (let i = 1; i < QUOTA; i++)
      expect((await sn.send('sn-melde', rueckmeldung().body, 'application/json')).status).toBe(202);
    const over = await sn.send('sn-melde', rueckmeldung().body, 'application/json');
    expect(over.status).toBe(429);
    expect(over.headers['content-type']).toContain('application/problem+json');
    expect((over.body as Problem).code).toBe('GW_ERR_QUOTA_EXCEEDED');
    const retryAfter = Number(over.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(25 * 3600);
    const rejected = await t.gateway.auditStore.query({ kind: 'rejected', limit: 1_000 });
    expect(
      rejected.some((e) => e.detail.code === 'GW_ERR_QUOTA_EXCEEDED' && e.senderSystem === 'sn-melde'),
    ).toBe(true);
    // Only submissions count: sn-melde can still read its inbox; st-melde has no quota.
    expect((await sn.call('GET', '/v1/systems/sn-melde/inbox')).status).toBe(200);
    const st = t.client('st-melde');
    for (let i = 0; i < QUOTA + 1; i++)
      expect((await st.send('st-melde', auswertung(rueckmeldung().id).body, 'application/xml')).status).toBe(
        202,
      );

    // A restarted gateway counts what was accepted today from the audit trail.
    await t.stop();
    t = await startTestGateway({ dataDir, contractsDir });
    const again = await t.client('sn-melde').send('sn-melde', rueckmeldung().body, 'application/json');
    expect(again.status).toBe(429);
    expect((again.body as Problem).code).toBe('GW_ERR_QUOTA_EXCEEDED');
  }, 60_000);
});
