/**
 * OpenAPI at /docs over real HTTPS: the document at /docs/json is a valid OpenAPI 3.1 document
 * (checked against the official OAS 3.1 JSON schema by @seriousme/openapi-schema-validator), it
 * lists every route the server registered with its parameters, responses and who may call it,
 * the schemas come from the routes' zod objects, and a documented schema rejects what the route
 * rejects (and accepts what it accepts). The human page and its assets are served locally.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registeredRoutes } from '../../gateway/observability/openapi.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

interface Parameter {
  in: string;
  name: string;
  required?: boolean;
  schema: Record<string, unknown>;
}
interface Operation {
  parameters?: Parameter[];
  responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }>;
  security?: Record<string, string[]>[];
  'x-roles'?: string[];
}
interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, { type: string }> };
}

const toOpenApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

describe('OpenAPI at /docs', () => {
  let t: TestGateway;
  let doc: OpenApiDocument;

  beforeAll(async () => {
    t = await startTestGateway();
    const r = await t.client(null).call<OpenApiDocument>('GET', '/docs/json');
    expect(r.status).toBe(200);
    doc = r.body;
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const result = await new Validator().validate(doc as unknown as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    // The validator does reject a broken document (so the check above can fail).
    const broken = structuredClone(doc) as unknown as { paths: Record<string, Record<string, unknown>> };
    broken.paths['/health/live']!.get = { responses: 'none' };
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  it('documents every registered route with its parameters, responses and callers', () => {
    const routes = registeredRoutes(t.gateway.http).filter((r) => !r.url.startsWith('/docs'));
    expect(routes.length).toBeGreaterThan(30);
    for (const { method, url } of routes) {
      const path = toOpenApiPath(url.replace(/\*$/, '{*}'));
      const op = doc.paths[path]?.[method.toLowerCase()];
      expect(op, `${method} ${url}`).toBeDefined();
      if (!op) continue;
      expect(Object.keys(op.responses).length, `${method} ${url}`).toBeGreaterThan(0);
      for (const param of url.match(/:([A-Za-z0-9_]+)/g) ?? []) {
        const documented = op.parameters?.find((p) => p.in === 'path' && p.name === param.slice(1));
        expect(documented, `${method} ${url} ${param}`).toBeDefined();
        expect(documented?.required).toBe(true);
      }
      if (url.startsWith('/v1/')) expect(op['x-roles'] ?? op.security, `${method} ${url}`).toBeDefined();
    }
    // No documented operation without a route behind it (the docs' own routes are hidden).
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m} ${p}`),
    );
    const served = new Set(routes.map((r) => `${r.method.toLowerCase()} ${toOpenApiPath(r.url)}`));
    for (const d of documented) expect(served.has(d), d).toBe(true);

    // Who may call: from each route's auth declaration.
    expect(doc.paths['/v1/operations/dead-letters/{systemId}']!.get!['x-roles']).toEqual(['operator']);
    expect(doc.paths['/v1/systems/{systemId}/messages']!.post!.security).toEqual([{ clientCertificate: [] }]);
    expect(doc.paths['/health/ready']!.get!.security).toEqual([]);
    expect(doc.components.securitySchemes.clientCertificate!.type).toBe('mutualTLS');
  });

  it('takes request and response schemas from the routes zod objects', () => {
    const inbox = doc.paths['/v1/systems/{systemId}/inbox']!.get!;
    const limit = inbox.parameters!.find((p) => p.in === 'query' && p.name === 'limit')!;
    expect(limit.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 500 });
    expect(inbox.parameters!.find((p) => p.name === 'systemId')!.schema).toMatchObject({
      pattern: '^[a-z0-9][a-z0-9-]{1,62}$',
    });
    const accepted = doc.paths['/v1/systems/{systemId}/messages']!.post!.responses['202']!;
    const schema = accepted.content!['application/json']!.schema as {
      properties: { messages: { items: { required: string[] } } };
    };
    expect(schema.properties.messages.items.required).toEqual(
      expect.arrayContaining(['messageId', 'receiverSystem', 'statusUrl']),
    );
    const ready = doc.paths['/health/ready']!.get!.responses;
    expect(Object.keys(ready).sort()).toEqual(['200', '503', 'default']);
    // Every operation documents the problem answer with the catalogue's codes.
    const problem = doc.paths['/v1/messages']!.post!.responses.default!.content!['application/problem+json']!
      .schema as { properties: { code: { enum: string[] } } };
    expect(problem.properties.code.enum).toContain('GW_ERR_CONTRACT_VIOLATION');
    const search = doc.paths['/v1/audit/messages']!.get!.parameters!.map((p) => p.name);
    expect(search).toEqual(
      expect.arrayContaining(['sender', 'receiver', 'status', 'from', 'to', 'limit', 'cursor']),
    );
  });

  it('a documented schema rejects what the route rejects, and accepts what it accepts', async () => {
    const ajv = new Ajv2020({ strict: false });
    const limitSchema = doc.paths['/v1/systems/{systemId}/inbox']!.get!.parameters!.find(
      (p) => p.name === 'limit',
    )!.schema;
    const validLimit = ajv.compile(limitSchema);
    const sn = t.client('sn-melde');
    for (const [value, ok] of [
      [0, false],
      [501, false],
      [2.5, false],
      [1, true],
      [500, true],
    ] as const) {
      expect(validLimit(value), `documented limit=${value}`).toBe(ok);
      const r = await sn.call<{ code?: string }>('GET', `/v1/systems/sn-melde/inbox?limit=${value}`);
      expect(r.status, `route limit=${value}`).toBe(ok ? 200 : 400);
    }

    const entry = doc.paths['/v1/operations/dead-letters/{systemId}/{entry}']!.get!.parameters!;
    const validSystem = ajv.compile(entry.find((p) => p.name === 'systemId')!.schema);
    const validEntry = ajv.compile(entry.find((p) => p.name === 'entry')!.schema);
    const operator = (
      await t.gateway.tokens.issue({
        role: 'operator',
        scope: '*',
        lifetimeMs: 600_000,
        createdBy: 'test',
      })
    ).token;
    const show = (system: string, e: string) =>
      t.client(null).call<{ code: string }>('GET', `/v1/operations/dead-letters/${system}/${e}`, undefined, {
        authorization: `Bearer ${operator}`,
      });
    for (const [system, e, ok] of [
      ['Sn_Melde', '0-1', false],
      ['sn-melde', 'zero-one', false],
      ['sn-melde', '0-1', true],
      ['sn-melde', '00000000-0000-4000-8000-000000000000', true],
    ] as const) {
      expect(validSystem(system) && validEntry(e), `documented ${system}/${e}`).toBe(ok);
      const r = await show(system, e);
      // Accepted input reaches the queue, which has no such entry: 404, not 400.
      expect(r.status, `route ${system}/${e}`).toBe(ok ? 404 : 400);
    }
  });

  it('serves the human page and its assets locally', async () => {
    const probe = t.client(null);
    const page = await probe.call<string>('GET', '/docs');
    expect(page.status).toBe(200);
    expect(String(page.headers['content-type'])).toContain('text/html');
    expect(page.body).toContain('Swagger UI');
    // Everything the page loads comes from the gateway itself, not from a CDN.
    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThan(2);
    for (const asset of assets) {
      expect(asset, asset).not.toMatch(/^(https?:)?\/\//);
      const r = await probe.call<string>('GET', new URL(asset, `${t.gateway.url}/docs/`).pathname);
      expect(r.status, asset).toBe(200);
    }
  });
});
