/**
 * Rate limits per connected system (keyed by the system its client certificate names; anonymous
 * callers by address). A system's directory entry may set its own `requestsPerMinute`; the configured
 * default applies otherwise. Probes and metrics are exempt: a scraper must never lock out a system.
 * Messages per day (`quota.messagesPerDay`) are a separate limit with its own code: message-quota.ts.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../errors/catalogue.ts';
import { type CertificateResolver, callerSystem } from './client-auth.ts';
import { type MessageQuotaOptions, registerMessageQuota } from './message-quota.ts';

export interface RateLimitOptions {
  resolveCaller: CertificateResolver;
  defaultPerMinute: number;
  /** The system's own quota, if its directory entry sets one. */
  perMinuteOf(systemId: string): number | undefined;
  /** Daily message quotas (message-quota.ts); absent: none. */
  messageQuota?: Omit<MessageQuotaOptions, 'resolveCaller'>;
}

export async function registerRateLimit(app: FastifyInstance, options: RateLimitOptions): Promise<void> {
  if (options.messageQuota) {
    registerMessageQuota(app, { ...options.messageQuota, resolveCaller: options.resolveCaller });
  }
  await app.register(rateLimit, {
    global: true,
    timeWindow: 60_000,
    keyGenerator: (request) => {
      const caller = callerSystem(request, options.resolveCaller);
      return caller ? `system:${caller.systemId}` : `address:${request.ip}`;
    },
    max: async (_request, key) =>
      key.startsWith('system:')
        ? (options.perMinuteOf(key.slice('system:'.length)) ?? options.defaultPerMinute)
        : options.defaultPerMinute,
    allowList: (request) => request.url.startsWith('/health/') || request.url === '/metrics',
    errorResponseBuilder: (_request, context) =>
      new GatewayError(
        'GW_ERR_RATE_LIMITED',
        `quota of ${context.max} requests per minute exceeded; retry in ${context.after}`,
        {
          headers: { 'retry-after': String(Math.ceil(context.ttl / 1000)) },
        },
      ),
  });
}
