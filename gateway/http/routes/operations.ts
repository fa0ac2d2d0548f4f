/** Health and metrics: open to every caller (no client certificate), so probes and scrapers need no keys. */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Metrics } from '../../observability/metrics.ts';

export interface ReadinessCheck {
  name: string;
  check(): Promise<{ ok: boolean; detail: string }>;
}

const PUBLIC = { auth: { public: true as const } };
const TAGS = ['operations'];

export const Liveness = z.object({ status: z.literal('ok') });
export const Readiness = z.object({
  status: z.enum(['ready', 'not-ready']),
  checks: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.string() })),
});

export function operationsRoutes(deps: {
  checks: ReadinessCheck[];
  metrics: Metrics;
  refreshMetrics: () => Promise<void>;
}) {
  return async (app: FastifyInstance) => {
    app.get(
      '/health/live',
      {
        config: PUBLIC,
        schema: { tags: TAGS, summary: 'Liveness: the process answers', response: { 200: Liveness } },
      },
      async () => ({ status: 'ok' as const }),
    );

    app.get(
      '/health/ready',
      {
        config: PUBLIC,
        schema: {
          tags: TAGS,
          summary: 'Readiness: bus, stores, signing key usable, no gateway certificate about to expire',
          response: { 200: Readiness, 503: Readiness },
        },
      },
      async (_request, reply) => {
        const results = await Promise.all(
          deps.checks.map(async (c) => {
            try {
              return { name: c.name, ...(await c.check()) };
            } catch (error) {
              return { name: c.name, ok: false, detail: (error as Error).message };
            }
          }),
        );
        const ok = results.every((r) => r.ok);
        return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not-ready', checks: results });
      },
    );

    app.get(
      '/metrics',
      {
        config: PUBLIC,
        schema: {
          tags: TAGS,
          summary: 'Prometheus metrics (text exposition format)',
        },
      },
      async (_request, reply) => {
        await deps.refreshMetrics();
        return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
      },
    );
  };
}
