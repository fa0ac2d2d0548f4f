/**
 * The HTTPS server: TLS with optional client certificates (systems present one; probes, scrapers and
 * browsers need not), one error handler that turns everything into problem+json and audits every
 * rejection, and the route plugins. Routes declare their own authorization (see client-auth.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:https';
import type {
  FastifyHttpsOptions,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifyServerOptions,
} from 'fastify';
import Fastify, { LogController } from 'fastify';
import type { AuditLog } from '../audit/audit-log.ts';
import { auditRejection } from '../audit/rejections.ts';
import { GatewayError } from '../errors/catalogue.ts';
import { toGatewayError } from '../errors/to-gateway-error.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { registerOpenApi } from '../observability/openapi.ts';
import { continueOrStartTrace, type TraceContext } from '../observability/trace-context.ts';
import { type CertificateResolver, callerSystem } from './client-auth.ts';
import { answerClientError } from './client-errors.ts';
import { sendProblem } from './problem.ts';
import { type RateLimitOptions, registerRateLimit } from './rate-limit.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The gateway's span of this request (W3C trace context; see observability/trace-context.ts). */
    trace: TraceContext;
  }
}

export interface HttpServerOptions {
  tls: { keyPem: string; certPem: string; caPem: string };
  bodyLimitBytes: number;
  /** Slow-loris guard: a request (headers and body) must arrive completely within this time. */
  requestTimeoutMs: number;
  logger: Logger;
  audit: AuditLog;
  metrics: Metrics;
  resolveCaller: CertificateResolver;
  rateLimit: Omit<RateLimitOptions, 'resolveCaller'>;
  routes: ((app: FastifyInstance) => Promise<void>)[];
}

export async function buildHttpServer(options: HttpServerOptions): Promise<FastifyInstance> {
  // Every refusal the router or a route raises: counted, logged, audited (under /v1/), answered as a problem.
  async function refuse(error: unknown, request: FastifyRequest, reply: FastifyReply) {
    const problem = toGatewayError(error);
    options.metrics.rejected.inc({ code: problem.code });
    if (problem.code === 'GW_ERR_INTERNAL') request.log.error({ err: error }, 'internal error');
    else request.log.info({ code: problem.code, url: request.url }, 'request rejected');
    if (request.url.startsWith('/v1/')) {
      const caller = callerSystem(request, options.resolveCaller);
      await auditRejection(
        options.audit,
        request.log,
        {
          actor: caller ? `system:${caller.systemId}` : 'anonymous',
          messageId: request.id,
          senderSystem: caller?.systemId ?? null,
          detail: { code: problem.code, method: request.method, route: request.routeOptions.url ?? null },
        },
        // The error as thrown: one that is not a GatewayError is mapped to a new object here, and
        // the ingress may have audited the original already (a message's `failed`).
        typeof error === 'object' && error !== null ? error : problem,
      );
    }
    return sendProblem(request, reply, problem);
  }

  const app = Fastify({
    https: {
      key: options.tls.keyPem,
      cert: options.tls.certPem,
      ca: [options.tls.caPem],
      requestCert: true,
      // Certificate-less clients are let in at the TLS level and refused per route (deny by default there).
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      // Node checks request timeouts on this interval (default 30 s, which would let a slow-loris
      // connection live up to twice the timeout).
      connectionsCheckingInterval: Math.max(250, Math.min(5_000, options.requestTimeoutMs / 4)),
    } as FastifyHttpsOptions<Server>['https'],
    bodyLimit: options.bodyLimitBytes,
    loggerInstance: options.logger as FastifyServerOptions['loggerInstance'],
    // Our own lines carry the message id; fastify's per-request lines would only double the volume.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: false,
    // Unique across restarts and replicas: a refusal is audited under this id, and auditors look it up.
    genReqId: () => randomUUID(),
    return503OnClosing: true,
    // Long path parameters reach the routes, whose own checks answer with a problem (and audit it),
    // instead of the router's plain 414.
    routerOptions: { maxParamLength: 1000 },
    frameworkErrors: (error, request, reply) => {
      void refuse(new GatewayError('GW_ERR_BAD_REQUEST', error.message), request, reply);
    },
    connectionTimeout: 30_000,
    requestTimeout: options.requestTimeoutMs,
    clientErrorHandler: (error, socket) => answerClientError(options, error, socket),
    keepAliveTimeout: 10_000,
  }) as unknown as FastifyInstance;
  // Node enforces requestTimeout only when headersTimeout (default 60 s) is not longer than it.
  app.server.headersTimeout = options.requestTimeoutMs;

  // Tracing first, so that every later line about the request (refusals too) carries the trace id.
  // The validated context replaces the caller's headers: routes pass request.headers.traceparent on
  // (ingress writes it into the bus headers), so what travels is the gateway's span, never an
  // unchecked value. The answer names the trace in its own traceparent header.
  app.decorateRequest('trace', null as unknown as TraceContext);
  // A callback hook, not an async one: no promise per request on the hot path.
  app.addHook('onRequest', (request, reply, done) => {
    const trace = continueOrStartTrace(request.headers.traceparent, request.headers.tracestate);
    request.trace = trace;
    request.headers.traceparent = trace.traceparent;
    if (trace.tracestate) request.headers.tracestate = trace.tracestate;
    else delete request.headers.tracestate;
    request.log = request.log.child({ traceId: trace.traceId });
    reply.header('traceparent', trace.traceparent);
    done();
  });

  app.addHook('onResponse', async (request, reply) => {
    options.metrics.httpRequestSeconds.observe(
      {
        route: request.routeOptions.url ?? 'unmatched',
        method: request.method,
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });

  app.setErrorHandler((error, request, reply) => refuse(error, request, reply));

  // Thrown, not sent: the error handler audits it like any other refusal under /v1/ (probing for routes is bad input too).
  app.setNotFoundHandler(async (request) => {
    throw new GatewayError('GW_ERR_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`);
  });

  await registerRateLimit(app, { ...options.rateLimit, resolveCaller: options.resolveCaller });
  // Before the routes: it collects them as they are added, for /docs/json.
  await registerOpenApi(app, { version: '1' });
  for (const routes of options.routes) await app.register(routes);
  return app;
}
