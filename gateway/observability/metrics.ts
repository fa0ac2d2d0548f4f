/**
 * Prometheus metrics. One registry per gateway instance (tests run several in one process).
 *
 * What is measured where:
 * - per-stage latency (`gateway_stage_duration_seconds{stage}`) and message outcomes
 *   (`gateway_messages_total{outcome}`): the pipeline, through PipelineInstruments (pipeline.ts);
 * - rejections by error code (`gateway_requests_rejected_total{code}`): the HTTP error handler;
 * - bus lag, dead-letter queue sizes and certificate expiry: computed on scrape (scrape.ts);
 * - `gateway_overdue_answers{system}`: registered here, set by the deadline watcher. The hook for it:
 *   `metrics.onScrape(async () => metrics.overdueAnswers.set({ system }, n))` — a scrape hook runs
 *   before every /metrics answer, so the watcher need not keep the gauge current between scrapes.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export const PIPELINE_STAGES = [
  'ingress.decode',
  'ingress.validate',
  'ingress.sign',
  'ingress.publish',
  'delivery.verify',
  'delivery.encode',
  'delivery.push',
] as const;
export type PipelineStage = (typeof PIPELINE_STAGES)[number];

/**
 * `audit-pending`: published, but answered 503 GW_ERR_AUDIT_PENDING while its ingress audit entries
 * were still being written (pipeline/published-audit.ts); counted `accepted` too once they land.
 */
export const MESSAGE_OUTCOMES = [
  'accepted',
  'audit-pending',
  'delivered',
  'retried',
  'dead-lettered',
] as const;
export type MessageOutcome = (typeof MESSAGE_OUTCOMES)[number];

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const scrapeHooks: (() => Promise<void>)[] = [];
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
    stageSeconds: new Histogram({
      name: 'gateway_stage_duration_seconds',
      help: 'Duration of one pipeline stage for one message (ingress: decode, validate, sign, publish; delivery: verify, encode, push)',
      labelNames: ['stage'] as const,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: [registry],
    }),
    messages: new Counter({
      name: 'gateway_messages_total',
      help: 'Messages by outcome: accepted at ingress (audit-pending: answered before its audit entries were written), delivered, parked for retry, dead-lettered',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    busLag: new Gauge({
      name: 'gateway_bus_lag_records',
      help: 'Records published but not yet handled, per destination system',
      labelNames: ['system'] as const,
      registers: [registry],
    }),
    deadLetters: new Gauge({
      name: 'gateway_dead_letter_queue_size',
      help: 'Dead-lettered messages not yet replayed, per receiving system (read on scrape, never consumed)',
      labelNames: ['system'] as const,
      registers: [registry],
    }),
    certificateExpiry: new Gauge({
      name: 'gateway_certificate_expiry_seconds',
      help: 'Seconds until the certificate expires (negative: expired), by kind (ca, server, signing, gateway-client, system) and system',
      labelNames: ['kind', 'system'] as const,
      registers: [registry],
    }),
    overdueAnswers: new Gauge({
      name: 'gateway_overdue_answers',
      help: 'Cases whose answer deadline has passed without an answer, per receiving system',
      labelNames: ['system'] as const,
      registers: [registry],
    }),
    pushBreakerState: new Gauge({
      name: 'gateway_push_breaker_state',
      help: 'Push circuit breaker per receiving system in this process: 0 closed, 1 half-open, 2 open',
      labelNames: ['system'] as const,
      registers: [registry],
    }),
    callbacks: new Counter({
      name: 'gateway_callbacks_total',
      help: 'Callback requests to connected systems, by outcome (delivered, retried, gave-up, misconfigured; not-queued: the event could not be put on the bus; invalid: a record on the callback topic that is not an event the gateway could have built, dropped)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    publishesInDoubt: new Gauge({
      name: 'gateway_ingress_publishes_in_doubt',
      help: 'Publishes answered 503 whose records may still land on the bus (a send that outlived the publish timeout): until the bus has given up on them and the records past the ingress audit bookmark were checked, the bookmark is held (ingress-audit-recovery.ts)',
      registers: [registry],
    }),
    auditSpoolUnreadable: new Counter({
      name: 'gateway_audit_spool_unreadable_files_total',
      help: 'Files of the audit-pending spool (<dataDir>/audit-pending) that could not be read at start-up: left in place, their audit entries not written (the error log names each file)',
      registers: [registry],
    }),
    /** Registers work to run before every scrape (see the header comment). */
    onScrape(hook: () => Promise<void>): void {
      scrapeHooks.push(hook);
    },
    /** Runs the scrape hooks; one failing hook does not hide the others' values. */
    async runScrapeHooks(): Promise<Error[]> {
      const results = await Promise.allSettled(scrapeHooks.map((hook) => hook()));
      return results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    },
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
