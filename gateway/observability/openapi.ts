/**
 * OpenAPI 3.1 at /docs (Swagger UI, served from the package, no CDN) and /docs/json, generated from
 * the schemas the routes declare — zod objects, the same ones the handlers parse with — through
 * @fastify/swagger and fastify-type-provider-zod's transform (z.toJSONSchema). No hand-kept copy.
 *
 * Validation stays in the handlers: they parse with those zod objects and answer with the
 * catalogue's audited problems, so the declared schemas are not enforced a second time by the
 * framework (the no-op compilers below), and responses are serialized as the handlers build them.
 * Each operation also states who may call it, from the route's `auth` declaration.
 */
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { createJsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import type { RouteAuth } from '../auth/route-auth.ts';
import { ERRORS } from '../errors/catalogue.ts';
import { PROBLEM_CONTENT_TYPE } from '../http/problem.ts';

export const DOCS_PREFIX = '/docs';

/** Every route registered on a server (HEAD twins left out), for checking that /docs misses none. */
const registered = new WeakMap<FastifyInstance, { method: string; url: string }[]>();
export function registeredRoutes(app: FastifyInstance): readonly { method: string; url: string }[] {
  return registered.get(app) ?? [];
}

const transformZod = createJsonSchemaTransform({ skipList: [] });

type TransformInput = Parameters<typeof transformZod>[0];

/** Every error answer (gateway/http/problem.ts), documented once for every operation. */
const PROBLEM = {
  description: 'RFC 9457 problem details with a stable code from the error catalogue',
  content: {
    [PROBLEM_CONTENT_TYPE.split(';')[0]!]: {
      schema: {
        type: 'object',
        required: ['type', 'title', 'status', 'code', 'requestId'],
        properties: {
          type: { type: 'string' },
          title: { type: 'string' },
          status: { type: 'integer' },
          detail: { type: 'string' },
          instance: { type: 'string' },
          code: { type: 'string', enum: Object.keys(ERRORS) },
          requestId: { type: 'string' },
          pointer: { type: 'string' },
          errors: {
            type: 'array',
            items: {
              type: 'object',
              required: ['pointer', 'detail'],
              properties: {
                pointer: { type: 'string' },
                nativeField: { type: 'string' },
                detail: { type: 'string' },
              },
            },
          },
        },
      },
    },
  },
};

/** One route's operation: its zod schemas as JSON Schema, who may call it, the problem answer. */
function documentOperation(document: TransformInput) {
  const result = transformZod(document);
  const auth = (document.route.config as { auth?: RouteAuth } | undefined)?.auth;
  const schema = (result.schema ?? {}) as Record<string, unknown>;
  if (document.url === DOCS_PREFIX || document.url.startsWith(`${DOCS_PREFIX}/`)) {
    return { ...result, schema: { ...schema, hide: true } };
  }
  if (auth && 'role' in auth) {
    const roles = typeof auth.role === 'string' ? [auth.role] : [...auth.role];
    schema.security = roles.map((role) => (role === 'system' ? { clientCertificate: [] } : { bearer: [] }));
    schema['x-roles'] = roles;
  } else if (!auth && document.url.startsWith('/v1/')) {
    schema['x-roles'] = []; // deny by default: nobody
  } else {
    schema.security = [];
  }
  schema.response = { ...(schema.response as object | undefined), default: PROBLEM };
  return { ...result, schema };
}

export async function registerOpenApi(app: FastifyInstance, options: { version: string }): Promise<void> {
  const routes: { method: string; url: string }[] = [];
  registered.set(app, routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat())
      if (method !== 'HEAD') routes.push({ method, url: route.url });
  });
  app.setValidatorCompiler(() => (data) => ({ value: data }));
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Länder gateway',
        version: options.version,
        description:
          'Interoperability gateway between the IT systems of the German Länder. Systems authenticate with their client certificate (mTLS); auditors, operators and metrics scrapers with bearer tokens. Errors are RFC 9457 problem+json with a stable code.',
      },
      // openapi-types knows OpenAPI 3.0 only; mutualTLS is a 3.1 security scheme type.
      components: {
        securitySchemes: {
          clientCertificate: {
            type: 'mutualTLS',
            description: 'the client certificate the gateway CA issued to the system',
          },
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'an auditor or operator token (gw token issue)',
          },
        },
      } as never,
    },
    transform: documentOperation as never,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(fastifySwaggerUi, {
    routePrefix: DOCS_PREFIX,
    uiConfig: { docExpansion: 'list', deepLinking: false },
    staticCSP: true,
  });
}
