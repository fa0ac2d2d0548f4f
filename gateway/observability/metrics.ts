/**
 * Prometheus metrics. One registry per gateway instance (tests run several in one process).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequestSeconds: new Histogram({
      name: 'gateway_http_request_duration_seconds',
      help: 'HTTP request duration by route and status code',
      labelNames: ['route', 'method', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'gateway_requests_rejected_total',
      help: 'Requests answered with a problem, by error code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    busLag: new Gauge({
      name: 'gateway_bus_lag_records',
      help: 'Records published but not yet handled, per destination system',
      labelNames: ['system'] as const,
      registers: [registry],
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
