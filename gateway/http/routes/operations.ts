/**
 * Health and metrics. The probes are open to every caller (no client certificate, no token), so a
 * load balancer or kubelet needs no keys. The metrics are not: they name every connected system and
 * its queues, on the port the Länder systems connect to, so by default only a scraper token (role
 * scraper, which admits nothing else) or an operator token of scope `*` reads them (a narrower
 * operator would see systems outside its scope). Prometheus gets a scraper token, so the secret in
 * its configuration cannot also replay dead letters or issue certificates. An operator whose scraper
 * sits on a private network may open them (GATEWAY_METRICS_ACCESS=public).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { RouteAuth } from '../../auth/route-auth.ts';
import type { Config } from '../../config/schema.ts';
import type { Metrics } from '../../observability/metrics.ts';

export interface ReadinessCheck {
  name: string;
  check(): Promise<{ ok: boolean; detail: string }>;
}

const PUBLIC: { auth: RouteAuth } = { auth: { public: true } };
// The metrics cover every system: a token narrowed to some of them is refused (route-auth.ts).
const SCRAPER_OR_OPERATOR: { auth: RouteAuth } = {
  auth: { role: ['scraper', 'operator'], wholeGateway: true },
};
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
  access: Config['metrics']['access'];
}) {
  const open = deps.access === 'public';
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
        config: open ? PUBLIC : SCRAPER_OR_OPERATOR,
        schema: {
          tags: TAGS,
          summary: 'Prometheus metrics (text exposition format)',
          description: open
            ? 'Open to anyone who reaches the port (GATEWAY_METRICS_ACCESS=public).'
            : 'Needs a scraper token (GATEWAY_METRICS_ACCESS=operator, the default), which admits ' +
              'nothing but /metrics: gw token issue --role scraper --name prometheus --expires 90d. ' +
              'An operator token of scope * is admitted too, but gives its holder the whole operator API.',
        },
      },
      async (_request, reply) => {
        await deps.refreshMetrics();
        return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
      },
    );
  };
}
