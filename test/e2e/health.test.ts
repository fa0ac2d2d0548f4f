/**
 * Health probes over real HTTPS: /health/live; /health/ready with bus, audit store, mailbox, a
 * signing key that signs and verifies, and gateway certificates not about to expire. A gateway
 * whose client certificate (issued with the gateway's own CA code) expires in one day is not
 * ready under the default 14-day threshold, and names why; with the threshold lowered it is.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { probeSigningKey } from '../../gateway/observability/readiness.ts';
import { generateKeyPair, writeEncryptedPrivateKey } from '../../gateway/pki/ca.ts';
import { startTestGateway, TEST_PASSPHRASE, type TestGateway, tempDir } from '../support/gateway.ts';

interface Readiness {
  status: 'ready' | 'not-ready';
  checks: { name: string; ok: boolean; detail: string }[];
}

describe('health probes', () => {
  const dataDir = tempDir('health');
  const running: TestGateway[] = [];
  const start = async (env: Record<string, string> = {}) => {
    const t = await startTestGateway({ dataDir, env });
    running.push(t);
    return t;
  };
  afterAll(async () => {
    for (const t of running) await t.stop();
  });

  it('a fresh gateway is live and ready, every check named and passed', async () => {
    const t = await start();
    const probe = t.client(null);
    const live = await probe.call<{ status: string }>('GET', '/health/live');
    expect(live).toMatchObject({ status: 200, body: { status: 'ok' } });
    const ready = await probe.call<Readiness>('GET', '/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('ready');
    expect(ready.body.checks.map((c) => c.name).sort()).toEqual(
      ['audit', 'bus', 'certificates', 'keys', 'mailbox', 'revocations'].sort(),
    );
    for (const c of ready.body.checks) expect(c.ok, `${c.name}: ${c.detail}`).toBe(true);
    expect(ready.body.checks.find((c) => c.name === 'keys')!.detail).toContain('signing key usable');

    // A certificate expiring in one day, issued by the gateway CA, replaces the gateway's client certificate.
    const pki = path.join(dataDir, 'pki');
    const shortLived = t.gateway.pki.issue({
      commonName: 'laender-gateway client',
      usage: 'client',
      days: 1,
      keyAlgorithm: 'ec-p256',
    });
    await t.stop();
    running.pop();
    writeEncryptedPrivateKey(path.join(pki, 'gateway-client.key'), shortLived.keyPem, TEST_PASSPHRASE);
    writeFileSync(path.join(pki, 'gateway-client.crt'), shortLived.certPem, { mode: 0o600 });
  });

  it('is not ready when a gateway certificate expires within the threshold, and says which', async () => {
    const t = await start();
    const ready = await t.client(null).call<Readiness>('GET', '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.status).toBe('not-ready');
    const certificates = ready.body.checks.find((c) => c.name === 'certificates')!;
    expect(certificates.ok).toBe(false);
    expect(certificates.detail).toMatch(
      /gateway-client certificate expires in 1\.0 day\(s\).*14-day threshold/,
    );
    // Everything else is still fine.
    for (const c of ready.body.checks.filter((c) => c.name !== 'certificates'))
      expect(c.ok, c.name).toBe(true);
    // Liveness is not readiness.
    expect((await t.client(null).call('GET', '/health/live')).status).toBe(200);
    await t.stop();
    running.pop();
  });

  it('the threshold is configuration: below one day the same gateway is ready', async () => {
    const t = await start({ GATEWAY_CERT_EXPIRY_THRESHOLD_DAYS: '0.5' });
    const ready = await t.client(null).call<Readiness>('GET', '/health/ready');
    expect(ready.status, JSON.stringify(ready.body)).toBe(200);
    expect(ready.body.checks.find((c) => c.name === 'certificates')!.detail).toContain('gateway-client');
  });

  it('the key probe signs and verifies: a key that does not match its certificate fails it', () => {
    const other = generateKeyPair('ec-p256').privateKey;
    const t = running[0]!;
    const key = t.gateway.trust.signingKey();
    expect(probeSigningKey(key).ok).toBe(true);
    const mismatch = probeSigningKey({ privateKey: other, certPem: key.certPem });
    expect(mismatch.ok).toBe(false);
    expect(mismatch.detail).toMatch(/does not match|not usable/);
  });
});
