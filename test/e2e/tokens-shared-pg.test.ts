/**
 * Bearer tokens in the replicated deployment: two gateways on one PostgreSQL, each with its OWN data
 * directory (a StatefulSet's emptyDir per pod; only the PKI is copied in, as the pod's init container
 * copies the Secret). A token issued at one replica — in process, or by `gw token issue` run beside
 * it (`kubectl exec gateway-0 -- gw token issue …`) — admits its holder at the other over real HTTPS;
 * revoked at one, it is refused at the other on the very next request (401 GW_ERR_TOKEN_INVALID); a
 * replica started with an empty data directory (a restarted pod) still knows every token.
 */
import { execFile } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { dropSchema, freshSchemaName, PG_URL } from '../conformance/pg-test-schema.ts';
import { startTestGateway, TEST_PASSPHRASE, type TestGateway, tempDir } from '../support/gateway.ts';

const GW = path.join(REPO_ROOT, 'bin/gw.js');
const AUDIT_ROUTE = '/v1/audit/messages?limit=1';

interface Problem {
  code: string;
}

describe('bearer tokens of two replicas on one PostgreSQL, each with its own data directory', () => {
  const schema = freshSchemaName('tokens_e2e');
  const dirs: string[] = [];
  const replicas: TestGateway[] = [];
  let a: TestGateway;
  let b: TestGateway;

  /** A replica in a fresh data directory holding nothing but the installation's PKI. */
  async function replica(name: string): Promise<TestGateway> {
    const dataDir = tempDir(`tokens-${name}`);
    dirs.push(dataDir);
    if (replicas[0])
      cpSync(path.join(replicas[0].dataDir, 'pki'), path.join(dataDir, 'pki'), { recursive: true });
    const started = await startTestGateway({
      dataDir,
      env: {
        DATABASE_URL: PG_URL,
        DATABASE_SCHEMA: schema,
        GATEWAY_AUDIT_CHAIN: name,
        GATEWAY_AUDIT_CHECKPOINT_SECONDS: '3600',
      },
    });
    replicas.push(started);
    return started;
  }

  /** `gw` as its own process beside a replica: its data directory, the installation's configuration. */
  async function gw(beside: TestGateway, ...args: string[]): Promise<string> {
    const { stdout } = await promisify(execFile)(process.execPath, [GW, ...args], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        GATEWAY_DATA_DIR: beside.dataDir,
        GATEWAY_CONTRACTS_DIR: beside.contractsDir,
        GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
        GATEWAY_LOG_LEVEL: 'silent',
        DATABASE_URL: PG_URL,
        DATABASE_SCHEMA: schema,
      },
    });
    return stdout;
  }

  async function asPerson(at: TestGateway, token: string) {
    const r = await at.client(null).call<Problem>('GET', AUDIT_ROUTE, undefined, {
      authorization: `Bearer ${token}`,
    });
    return { status: r.status, code: r.status === 200 ? undefined : r.body.code };
  }
  const admitted = { status: 200, code: undefined };
  const refused = { status: 401, code: 'GW_ERR_TOKEN_INVALID' };

  beforeAll(async () => {
    a = await replica('gateway-0');
    b = await replica('gateway-1');
  }, 120_000);
  afterAll(async () => {
    for (const r of replicas) await r.stop();
    await dropSchema(schema);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('a token issued at one replica admits at the other; revoked at one, it is refused at the other on the next request', async () => {
    expect([a.gateway.tokens.kind, b.gateway.tokens.kind]).toEqual(['postgres', 'postgres']);
    const { token, record } = await a.gateway.tokens.issue({
      role: 'auditor',
      scope: 'land:SN',
      name: 'Prüferin Sachsen',
      lifetimeMs: 3_600_000,
      createdBy: 'test',
    });
    expect(await asPerson(b, token)).toEqual(admitted);
    expect(await asPerson(a, token)).toEqual(admitted);
    expect((await b.gateway.tokens.revoke(record.id))?.changed).toBe(true);
    // The very next request at the replica that did not revoke it, and at the one that did.
    expect(await asPerson(a, token)).toEqual(refused);
    expect(await asPerson(b, token)).toEqual(refused);
    // Each replica audits its own refusal, in its own chain of the shared log.
    const refusals = await a.gateway.auditStore.query({ kind: 'rejected', limit: 100_000 });
    const invalidAt = (chain: string) =>
      refusals.filter(
        (e) => e.chain === chain && (e.detail as { code?: string }).code === 'GW_ERR_TOKEN_INVALID',
      );
    expect(invalidAt('gateway-0')).toHaveLength(1);
    expect(invalidAt('gateway-1')).toHaveLength(1);
  });

  it('`gw token issue` beside gateway-0 writes where gateway-1 reads; `gw token revoke` beside gateway-1 refuses at gateway-0; both are audited in the shared log', async () => {
    const token = (
      await gw(a, 'token', 'issue', '--role', 'operator', '--name', 'Leitstand', '--expires', '1h')
    ).trim();
    expect(token).toMatch(/^gwt_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    const id = token.slice(4, 16);
    expect(await asPerson(b, token)).toEqual(admitted);
    const listed = JSON.parse(await gw(b, 'token', 'list', '--json')) as { id: string; status: string }[];
    expect(listed.find((t) => t.id === id)).toMatchObject({ status: 'active' });

    expect(await gw(b, 'token', 'revoke', id)).toMatch(/^revoked token/);
    expect(await asPerson(a, token)).toEqual(refused);
    expect(await asPerson(b, token)).toEqual(refused);

    const trail = (await b.gateway.auditStore.query({ limit: 100_000 })).filter(
      (e) => (e.detail as { tokenId?: string }).tokenId === id,
    );
    expect(trail.map((e) => ({ kind: e.kind, actor: e.actor }))).toEqual([
      { kind: 'token-issued', actor: 'cli' },
      { kind: 'token-revoked', actor: 'cli' },
    ]);
  }, 60_000);

  it('a replica started with an empty data directory (a restarted pod) knows every token and revocation', async () => {
    const kept = await a.gateway.tokens.issue({
      role: 'auditor',
      scope: '*',
      lifetimeMs: 3_600_000,
      createdBy: 'test',
    });
    const revoked = await b.gateway.tokens.issue({
      role: 'auditor',
      scope: '*',
      lifetimeMs: 3_600_000,
      createdBy: 'test',
    });
    await a.gateway.tokens.revoke(revoked.record.id);
    const restarted = await replica('gateway-2');
    expect(await asPerson(restarted, kept.token)).toEqual(admitted);
    expect(await asPerson(restarted, revoked.token)).toEqual(refused);
  }, 120_000);
});
