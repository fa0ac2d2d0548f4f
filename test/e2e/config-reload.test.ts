/**
 * Contracts and directory reload while the gateway serves: a valid change applies within a second
 * (file watch, or SIGHUP), an invalid one is refused and the previous version keeps routing; both
 * are audited.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rueckmeldung } from '../support/fixtures.ts';
import { contractsWith, eventually, startTestGateway, type TestGateway } from '../support/gateway.ts';

describe('routing configuration reload', () => {
  let t: TestGateway;
  let contractFile: string;
  let original: string;

  beforeAll(async () => {
    const contractsDir = contractsWith((systems) => systems);
    contractFile = path.join(contractsDir, 'xmeld-rueckmeldung.contract.yaml');
    original = readFileSync(contractFile, 'utf8');
    t = await startTestGateway({ contractsDir });
  });
  afterAll(async () => t?.stop());

  const send = async () =>
    (await t.client('sn-melde').send('sn-melde', rueckmeldung().body, 'application/json')).status;
  const changes = async () =>
    (await t.gateway.auditStore.query({ kind: 'contract-changed', limit: 1000 })).map(
      (e) => e.detail.outcome,
    );

  it('applies a valid change on file change without a restart', async () => {
    expect(await send()).toBe(202);
    // Withdraw Sachsen's right to send to Sachsen-Anhalt.
    writeFileSync(contractFile, original.replace("to: ['ags:15*', 'ags:16*']", "to: ['ags:16*']"));
    await eventually(async () => ((await send()) === 403 ? true : undefined), 5_000, 'the narrower contract');
    expect(await changes()).toContain('applied');
  });

  it('refuses an invalid version and keeps routing with the active one', async () => {
    const before = t.gateway.routing.digest;
    writeFileSync(contractFile, `${original}\nunknownField: true\n`);
    await eventually(
      async () => ((await changes()).includes('refused') ? true : undefined),
      5_000,
      'the refusal',
    );
    expect(t.gateway.routing.digest).toBe(before);
    expect(await send()).toBe(403); // still the narrower, valid version
  });

  it('reloads on SIGHUP', async () => {
    writeFileSync(contractFile, original);
    process.kill(process.pid, 'SIGHUP');
    await eventually(async () => ((await send()) === 202 ? true : undefined), 5_000, 'the restored contract');
  });
});
