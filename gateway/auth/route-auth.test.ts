/**
 * The declarative route authorization over real HTTPS: the gateway's own server (buildHttpServer),
 * real client certificates from the gateway PKI, real tokens in SQLite, a real audit store. Every
 * refusal is problem+json with a stable code and lands in the audit log.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../audit/audit-log.ts';
import { SqliteAuditStore } from '../audit/sqlite-audit-store.ts';
import { SystemClient } from '../cli/system-client.ts';
import { type CertificateResolver, requireSystem } from '../http/client-auth.ts';
import { buildHttpServer } from '../http/server.ts';
import { createLogger } from '../log/logger.ts';
import { createMetrics } from '../observability/metrics.ts';
import { ensurePki, type Pki } from '../pki/bootstrap.ts';
import { routeAuth, withAuth } from './route-auth.ts';
import { SqliteTokenStore } from './sqlite-token-store.ts';

let work: string;
let pki: Pki;
let app: FastifyInstance;
let url: string;
let tokens: SqliteTokenStore;
let auditStore: SqliteAuditStore;
const revoked = new Set<string>();
const clients: SystemClient[] = [];

function client(systemId: string | null): SystemClient {
  const created = SystemClient.forSystem(url, work, systemId);
  clients.push(created);
  return created;
}

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

async function issue(role: 'auditor' | 'operator', scope = '*'): Promise<string> {
  return (await tokens.issue({ role, scope, lifetimeMs: 60_000, createdBy: 'test' })).token;
}

async function rejections(): Promise<number> {
  return (await auditStore.query({ kind: 'rejected', limit: 100_000 })).length;
}

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'gw-route-auth-'));
  pki = await ensurePki({
    dir: path.join(work, 'pki'),
    systems: ['sn-melde', 'st-melde'],
    passphrase: 'route auth test passphrase',
    signingAlgorithm: 'ecdsa-p256-sha256',
    rsaBits: 2048,
    serverNames: ['localhost', '127.0.0.1'],
  });
  tokens = new SqliteTokenStore(path.join(work, 'auth.sqlite'));
  auditStore = new SqliteAuditStore({ file: path.join(work, 'audit.sqlite') });
  const audit = new AuditLog(auditStore);
  const resolveCaller: CertificateResolver = Object.assign(
    (peer: { raw: Buffer }) => pki.systemOfClientCertificate(peer),
    { isRevoked: (serial: string) => revoked.has(serial) },
  );
  const logger = createLogger({ level: 'silent' });
  app = await buildHttpServer({
    tls: { keyPem: pki.server.keyPem, certPem: pki.server.certPem, caPem: pki.caCertPem },
    bodyLimitBytes: 65_536,
    requestTimeoutMs: 30_000,
    logger,
    audit,
    metrics: createMetrics(),
    resolveCaller,
    rateLimit: { defaultPerMinute: 100_000, perMinuteOf: () => undefined },
    routes: [
      routeAuth({ tokens, resolveCaller, audit }),
      async (routes) => {
        routes.get('/v1/open', { config: { auth: { public: true } } }, async () => ({ ok: true }));
        routes.get('/v1/audit-only', { config: { auth: { role: 'auditor' } } }, async (request) => ({
          principal: request.principal,
        }));
        routes.get(
          '/v1/people',
          { config: { auth: { role: ['auditor', 'operator'] } } },
          async (request) => ({
            role: request.principal?.role,
          }),
        );
        routes.get<{ Params: { systemId: string } }>(
          '/v1/systems/:systemId/thing',
          { config: { auth: { role: 'system' } } },
          async (request) => {
            requireSystem(request, resolveCaller, request.params.systemId);
            return { principal: request.principal };
          },
        );
        routes.get('/v1/forgot-to-declare', async () => ({ leaked: true }));
        routes.get('/outside', async () => ({ ok: true }));
      },
      withAuth({ public: true }, async (routes) => {
        routes.get('/v1/catalogue', async () => ({ ok: true }));
        routes.get('/v1/catalogue/admin', { config: { auth: { role: 'operator' } } }, async () => ({
          ok: true,
        }));
      }),
    ],
  });
  url = (await app.listen({ host: '127.0.0.1', port: 0 })).replace('127.0.0.1', 'localhost');
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await app?.close();
  await tokens?.close();
  await auditStore?.close();
  rmSync(work, { recursive: true, force: true });
});

async function expectRefusal(
  call: Promise<{ status: number; headers: Record<string, unknown>; body: unknown }>,
  status: number,
  code: string,
): Promise<void> {
  const before = await rejections();
  const response = await call;
  expect(response.status).toBe(status);
  expect(String(response.headers['content-type'])).toContain('application/problem+json');
  expect(response.body).toMatchObject({ status, code });
  expect(await rejections()).toBe(before + 1);
}

describe('route auth', () => {
  it('public routes answer anyone', async () => {
    expect((await client(null).call('GET', '/v1/open')).status).toBe(200);
    expect((await client(null).call('GET', '/outside')).status).toBe(200);
  });

  it('deny by default: a /v1 route without a declaration refuses even a valid operator', async () => {
    await expectRefusal(client(null).call('GET', '/v1/forgot-to-declare'), 403, 'GW_ERR_FORBIDDEN');
    await expectRefusal(
      client(null).call('GET', '/v1/forgot-to-declare', undefined, bearer(await issue('operator'))),
      403,
      'GW_ERR_FORBIDDEN',
    );
    await expectRefusal(client('sn-melde').call('GET', '/v1/forgot-to-declare'), 403, 'GW_ERR_FORBIDDEN');
  });

  it('withAuth declares a whole plugin; a route of it may still declare its own', async () => {
    expect((await client(null).call('GET', '/v1/catalogue')).status).toBe(200);
    await expectRefusal(client(null).call('GET', '/v1/catalogue/admin'), 401, 'GW_ERR_TOKEN_REQUIRED');
    expect(
      (await client(null).call('GET', '/v1/catalogue/admin', undefined, bearer(await issue('operator'))))
        .status,
    ).toBe(200);
  });

  it('auditor routes: token required, right role, scope passed to the handler', async () => {
    const anonymous = await client(null).call('GET', '/v1/audit-only');
    expect(anonymous.headers['www-authenticate']).toBe('Bearer realm="laender-gateway"');
    await expectRefusal(client(null).call('GET', '/v1/audit-only'), 401, 'GW_ERR_TOKEN_REQUIRED');
    await expectRefusal(
      client(null).call('GET', '/v1/audit-only', undefined, bearer(await issue('operator'))),
      403,
      'GW_ERR_ROLE_FORBIDDEN',
    );
    await expectRefusal(client('sn-melde').call('GET', '/v1/audit-only'), 403, 'GW_ERR_ROLE_FORBIDDEN');
    await expectRefusal(
      client(null).call('GET', '/v1/audit-only', undefined, { authorization: 'Basic dXNlcjpwYXNz' }),
      401,
      'GW_ERR_TOKEN_INVALID',
    );
    const ok = await client(null).call<{ principal: { role: string; scope: unknown } }>(
      'GET',
      '/v1/audit-only',
      undefined,
      bearer(await issue('auditor', 'land:SN')),
    );
    expect(ok.status).toBe(200);
    expect(ok.body.principal).toMatchObject({ role: 'auditor', scope: { kind: 'land', land: 'SN' } });
    expect(
      (await client(null).call('GET', '/v1/people', undefined, bearer(await issue('operator')))).body,
    ).toEqual({
      role: 'operator',
    });
  });

  it('a revoked or expired token is refused from the next request on, and the refusal names it', async () => {
    const { token, record } = await tokens.issue({
      role: 'auditor',
      scope: '*',
      lifetimeMs: 60_000,
      createdBy: 'test',
    });
    const auditor = client(null);
    expect((await auditor.call('GET', '/v1/audit-only', undefined, bearer(token))).status).toBe(200);
    await tokens.revoke(record.id);
    await expectRefusal(
      auditor.call('GET', '/v1/audit-only', undefined, bearer(token)),
      401,
      'GW_ERR_TOKEN_INVALID',
    );
    const [last] = (await auditStore.query({ kind: 'rejected', limit: 100_000 })).slice(-1);
    expect(last).toMatchObject({ detail: { code: 'GW_ERR_TOKEN_INVALID', route: '/v1/audit-only' } });
  });

  it('system routes: the certificate decides; a revoked one is refused on a kept-alive connection', async () => {
    const sn = client('sn-melde');
    const ok = await sn.call<{ principal: { role: string; systemId: string; serial: string } }>(
      'GET',
      '/v1/systems/sn-melde/thing',
    );
    expect(ok.status).toBe(200);
    expect(ok.body.principal).toMatchObject({ role: 'system', systemId: 'sn-melde' });
    await expectRefusal(
      client(null).call('GET', '/v1/systems/sn-melde/thing'),
      401,
      'GW_ERR_CLIENT_CERT_REQUIRED',
    );
    await expectRefusal(
      client('st-melde').call('GET', '/v1/systems/sn-melde/thing'),
      403,
      'GW_ERR_CLIENT_CERT_FORBIDDEN',
    );
    await expectRefusal(
      client(null).call('GET', '/v1/systems/sn-melde/thing', undefined, bearer(await issue('operator'))),
      403,
      'GW_ERR_ROLE_FORBIDDEN',
    );

    revoked.add(ok.body.principal.serial);
    try {
      await expectRefusal(sn.call('GET', '/v1/systems/sn-melde/thing'), 401, 'GW_ERR_CLIENT_CERT_REVOKED');
      const [last] = (await auditStore.query({ kind: 'rejected', limit: 100_000 })).slice(-1);
      expect(last).toMatchObject({
        actor: 'system:sn-melde',
        senderSystem: 'sn-melde',
        detail: { code: 'GW_ERR_CLIENT_CERT_REVOKED', certificateSerial: ok.body.principal.serial },
      });
    } finally {
      revoked.delete(ok.body.principal.serial);
    }
    expect((await sn.call('GET', '/v1/systems/sn-melde/thing')).status).toBe(200);
  });

  it('unknown routes stay 404', async () => {
    expect((await client(null).call('GET', '/v1/nothing-here')).status).toBe(404);
  });
});
