/**
 * Who may read /metrics, over real HTTPS with real certificates and tokens. The metrics name every
 * connected system, its queues and counters, on the port the Länder systems connect to: by default
 * (GATEWAY_METRICS_ACCESS=operator) only a scraper token (role scraper) or an operator token of
 * scope `*` reads them; everyone else is refused with a problem and the refusal is audited. A
 * scraper token reads /metrics and nothing else: every other route refuses it (403, audited), with
 * the token kept in either store (auth.sqlite, PostgreSQL). GATEWAY_METRICS_ACCESS=public opens the
 * metrics for a scraper on a private network. The health probes stay open either way.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PersonRole } from '../../gateway/auth/roles.ts';
import type { ClientResponse } from '../../gateway/cli/system-client.ts';
import { loadConfig } from '../../gateway/config/load.ts';
import { dropSchema, freshSchemaName, PG_URL } from '../conformance/pg-test-schema.ts';
import { startTestGateway, type TestGateway, tempDir } from '../support/gateway.ts';

interface Problem {
  status: number;
  code: string;
  detail: string;
  requestId: string;
}
interface Operation {
  description?: string;
  security?: Record<string, string[]>[];
  'x-roles'?: string[];
}

const PROMETHEUS_TEXT = /^text\/plain; version=0\.0\.4/;

function expectProblem(r: ClientResponse<unknown>, status: number, code: string): Problem {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(String(r.headers['content-type'])).toMatch(/^application\/problem\+json/);
  const problem = r.body as Problem;
  expect(problem.code).toBe(code);
  return problem;
}

async function expectProbesOpen(t: TestGateway): Promise<void> {
  const anonymous = t.client(null);
  expect((await anonymous.call('GET', '/health/live')).status).toBe(200);
  const ready = await anonymous.call('GET', '/health/ready');
  expect(ready.status, JSON.stringify(ready.body)).toBe(200);
}

async function metricsOperation(t: TestGateway): Promise<Operation> {
  const doc = await t
    .client(null)
    .call<{ paths: Record<string, Record<string, Operation>> }>('GET', '/docs/json');
  return doc.body.paths['/metrics']!.get!;
}

describe('/metrics by default: operators only', () => {
  let t: TestGateway;
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const issue = async (role: PersonRole, scope: string) =>
    (
      await t.gateway.tokens.issue({
        role,
        scope,
        name: `${role} ${scope}`,
        lifetimeMs: 600_000,
        createdBy: 'test',
      })
    ).token;
  /** The `rejected` audit entry written under the refused request's id. */
  const refusalAudited = async (problem: Problem) => {
    const rejected = await t.gateway.auditStore.query({ kind: 'rejected', limit: 10_000 });
    return rejected.filter((e) => e.messageId === problem.requestId);
  };

  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('refuses a caller without credentials: 401, audited', async () => {
    const r = await t.client(null).call('GET', '/metrics');
    const problem = expectProblem(r, 401, 'GW_ERR_TOKEN_REQUIRED');
    expect(String(r.headers['www-authenticate'])).toMatch(/^Bearer /);
    expect(String(r.body)).not.toContain('gateway_');
    const [entry, ...more] = await refusalAudited(problem);
    expect(more).toEqual([]);
    expect(entry).toMatchObject({
      actor: 'anonymous',
      detail: { code: 'GW_ERR_TOKEN_REQUIRED', method: 'GET', route: '/metrics' },
    });
  });

  it('serves the Prometheus text to an operator token of scope *', async () => {
    const r = await t
      .client(null)
      .call<string>('GET', '/metrics', undefined, bearer(await issue('operator', '*')));
    expect(r.status, String(r.body)).toBe(200);
    expect(String(r.headers['content-type'])).toMatch(PROMETHEUS_TEXT);
    expect(r.body).toContain('# TYPE gateway_messages_total counter');
    expect(r.body).toMatch(/gateway_dead_letter_queue_size\{system="st-melde"\} 0/);
  });

  it('refuses an auditor token: 403, audited under the token', async () => {
    const token = await issue('auditor', '*');
    const r = await t.client(null).call('GET', '/metrics', undefined, bearer(token));
    const problem = expectProblem(r, 403, 'GW_ERR_ROLE_FORBIDDEN');
    const [entry] = await refusalAudited(problem);
    expect(entry?.actor).toMatch(/^token:/);
    expect(entry?.detail).toMatchObject({ code: 'GW_ERR_ROLE_FORBIDDEN', route: '/metrics' });
  });

  it('refuses an operator token narrowed to one system: the metrics cover every system', async () => {
    const r = await t
      .client(null)
      .call('GET', '/metrics', undefined, bearer(await issue('operator', 'system:sn-melde')));
    const problem = expectProblem(r, 403, 'GW_ERR_FORBIDDEN');
    expect(problem.detail).toContain('scope *');
    const [entry, ...more] = await refusalAudited(problem);
    expect(more).toEqual([]);
    expect(entry?.actor).toMatch(/^token:/);
    expect(entry?.detail).toMatchObject({ code: 'GW_ERR_FORBIDDEN', method: 'GET', route: '/metrics' });
  });

  it('the certificate inventory, which also covers every system, needs the scope * too', async () => {
    const narrowed = bearer(await issue('operator', 'land:SN'));
    const r = await t.client(null).call('GET', '/v1/pki/certificates', undefined, narrowed);
    const problem = expectProblem(r, 403, 'GW_ERR_FORBIDDEN');
    expect(problem.detail).toContain('not land:SN');
    const [entry] = await refusalAudited(problem);
    expect(entry?.detail).toMatchObject({ code: 'GW_ERR_FORBIDDEN', route: '/v1/pki/certificates' });
    const whole = await t
      .client(null)
      .call('GET', '/v1/pki/certificates', undefined, bearer(await issue('operator', '*')));
    expect(whole.status).toBe(200);
  });

  it('refuses a connected system (client certificate): 403, audited', async () => {
    const r = await t.client('sn-melde').call('GET', '/metrics');
    const problem = expectProblem(r, 403, 'GW_ERR_ROLE_FORBIDDEN');
    const [entry] = await refusalAudited(problem);
    expect(entry?.detail).toMatchObject({ code: 'GW_ERR_ROLE_FORBIDDEN', route: '/metrics' });
  });

  it('refuses an unknown token: 401', async () => {
    const r = await t.client(null).call('GET', '/metrics', undefined, bearer('not-a-token'));
    const problem = expectProblem(r, 401, 'GW_ERR_TOKEN_INVALID');
    expect(await refusalAudited(problem)).toHaveLength(1);
  });

  it('keeps the health probes open', async () => {
    await expectProbesOpen(t);
  });

  it('documents the bearer token and the scraper role in the OpenAPI description', async () => {
    const op = await metricsOperation(t);
    expect(new Set(op.security?.map((s) => Object.keys(s).join()))).toEqual(new Set(['bearer']));
    expect(op['x-roles']).toEqual(['scraper', 'operator']);
    expect(op.description).toContain('gw token issue --role scraper');
  });
});

describe.each([
  ['auth.sqlite', null],
  ['PostgreSQL', freshSchemaName('metrics_scraper')],
] as const)('a scraper token (kept in %s): /metrics and nothing else', (_store, schema) => {
  let t: TestGateway;
  let scraper: { authorization: string };
  let scraperId: string;
  const dataDir = tempDir('metrics-scraper');

  const refusalAudited = async (problem: Problem) => {
    const rejected = await t.gateway.auditStore.query({ kind: 'rejected', limit: 10_000 });
    return rejected.filter((e) => e.messageId === problem.requestId);
  };

  beforeAll(async () => {
    t = await startTestGateway({
      dataDir,
      ...(schema ? { env: { DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema } } : {}),
    });
    expect(t.gateway.tokens.kind).toBe(schema ? 'postgres' : 'sqlite');
    const issued = await t.gateway.tokens.issue({
      role: 'scraper',
      scope: '*',
      name: 'prometheus',
      lifetimeMs: 600_000,
      createdBy: 'test',
    });
    scraper = { authorization: `Bearer ${issued.token}` };
    scraperId = issued.record.id;
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
    if (schema) await dropSchema(schema);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('reads the Prometheus text at /metrics', async () => {
    const r = await t.client(null).call<string>('GET', '/metrics', undefined, scraper);
    expect(r.status, String(r.body)).toBe(200);
    expect(String(r.headers['content-type'])).toMatch(PROMETHEUS_TEXT);
    expect(r.body).toContain('# TYPE gateway_messages_total counter');
  });

  it.each([
    [
      'an operator route',
      'GET',
      '/v1/operations/dead-letters/sn-melde',
      '/v1/operations/dead-letters/:systemId',
    ],
    [
      'a dead-letter replay',
      'POST',
      '/v1/operations/dead-letters/sn-melde/replay-all',
      '/v1/operations/dead-letters/:systemId/replay-all',
    ],
    [
      'the certificate inventory, which covers every system',
      'GET',
      '/v1/pki/certificates',
      '/v1/pki/certificates',
    ],
    ['an auditor route', 'GET', '/v1/audit/messages?limit=1', '/v1/audit/messages'],
    ['whoami, which the console signs in with', 'GET', '/v1/auth/whoami', '/v1/auth/whoami'],
  ] as const)(
    'is refused at %s: 403 GW_ERR_ROLE_FORBIDDEN, audited under the token',
    async (_what, method, url, route) => {
      const r = await t.client(null).call(method, url, undefined, scraper);
      const problem = expectProblem(r, 403, 'GW_ERR_ROLE_FORBIDDEN');
      expect(problem.detail).toContain('not scraper');
      const [entry, ...more] = await refusalAudited(problem);
      expect(more).toEqual([]);
      expect(entry).toMatchObject({
        actor: `token:${scraperId}`,
        detail: { code: 'GW_ERR_ROLE_FORBIDDEN', method, route },
      });
    },
  );

  it('once revoked, is refused at /metrics too: 401, audited', async () => {
    await t.gateway.tokens.revoke(scraperId);
    const r = await t.client(null).call('GET', '/metrics', undefined, scraper);
    const problem = expectProblem(r, 401, 'GW_ERR_TOKEN_INVALID');
    expect(await refusalAudited(problem)).toHaveLength(1);
  });
});

describe('/metrics with GATEWAY_METRICS_ACCESS=public', () => {
  let t: TestGateway;

  beforeAll(async () => {
    t = await startTestGateway({ env: { GATEWAY_METRICS_ACCESS: 'public' } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('serves anyone who reaches the port, probes too', async () => {
    const r = await t.client(null).call<string>('GET', '/metrics');
    expect(r.status, String(r.body)).toBe(200);
    expect(String(r.headers['content-type'])).toMatch(PROMETHEUS_TEXT);
    expect(r.body).toContain('# TYPE gateway_messages_total counter');
    await expectProbesOpen(t);
    expect((await metricsOperation(t)).security).toEqual([]);
  });
});

describe('GATEWAY_METRICS_ACCESS', () => {
  it('defaults to operator and refuses anything but operator or public, naming the variable', () => {
    expect(loadConfig({}).metrics.access).toBe('operator');
    expect(loadConfig({ GATEWAY_METRICS_ACCESS: 'public' }).metrics.access).toBe('public');
    for (const value of ['open', 'token', 'PUBLIC']) {
      expect(() => loadConfig({ GATEWAY_METRICS_ACCESS: value })).toThrow(
        /GATEWAY_METRICS_ACCESS \(metrics\.access\): .*"operator"\|"public"/,
      );
    }
  });
});
