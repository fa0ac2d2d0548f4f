/** Health and metrics: open to every caller (no client certificate), so probes and scrapers need no keys. */
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../../observability/metrics.ts';

export interface ReadinessCheck {
  name: string;
  check(): Promise<{ ok: boolean; detail: string }>;
}

export function operationsRoutes(deps: {
  checks: ReadinessCheck[];
  metrics: Metrics;
  refreshMetrics: () => Promise<void>;
}) {
  return async (app: FastifyInstance) => {
    app.get('/health/live', { config: { auth: { public: true } } }, async () => ({ status: 'ok' }));

    app.get('/health/ready', { config: { auth: { public: true } } }, async (_request, reply) => {
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
    });

    app.get('/metrics', { config: { auth: { public: true } } }, async (_request, reply) => {
      await deps.refreshMetrics();
      return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
    });
  };
}
