/**
 * Message quotas per connected system: a directory entry may set `quota.messagesPerDay`; once that
 * many of its messages were accepted (202) on one calendar day (Europe/Berlin), further submissions
 * are refused with 429 GW_ERR_QUOTA_EXCEEDED (audited like every rejection) until midnight. Unlike
 * the rate limit (requests per minute, any route), only message submissions count, and only
 * accepted ones: a refused message does not use up the quota.
 *
 * The count is kept in memory, per process. It survives a restart: the first submission of a
 * system on a day seeds the count from the audit trail (messages the system sent since midnight
 * that were accepted). Several processes behind one load balancer each count what they accept on
 * top of that seed, so a system can exceed its quota by what the other processes accepted since.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/catalogue.ts';
import type { AuditMessageStatus, AuditStore } from '../ports/audit-store.ts';
import { type CertificateResolver, callerSystem } from './client-auth.ts';

/** The routes that submit a message. */
const SUBMISSIONS = new Set(['/v1/systems/:systemId/messages', '/v1/messages']);

export interface MessageQuotaOptions {
  resolveCaller: CertificateResolver;
  /** The system's messages per day, if its directory entry sets a quota. */
  messagesPerDayOf(systemId: string): number | undefined;
  /** Messages of the system accepted since `from` (ISO 8601), counted up to `atMost`. */
  acceptedSince?(systemId: string, from: string, atMost: number): Promise<number>;
  now?: () => Date;
}

interface DayCount {
  day: string;
  used: number;
}

const BERLIN_DAY = new Intl.DateTimeFormat('en-CA', {
  timeZone: 'Europe/Berlin',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
});

/** The Berlin calendar day of `at` (YYYY-MM-DD) and the instants at which it starts and ends. */
export function berlinDay(at: Date): { day: string; start: Date; end: Date } {
  const day = BERLIN_DAY.format(at);
  const midnight = (ymd: string) => {
    const [y, m, d] = ymd.split('-').map(Number) as [number, number, number];
    // Berlin is UTC+1 or UTC+2; the midnight is the one of these candidates that falls on `ymd`.
    for (const offsetHours of [1, 2]) {
      const candidate = new Date(Date.UTC(y, m - 1, d) - offsetHours * 3_600_000);
      const before = new Date(candidate.getTime() - 1);
      if (BERLIN_DAY.format(candidate) === ymd && BERLIN_DAY.format(before) !== ymd) return candidate;
    }
    throw new Error(`no Berlin midnight found for ${ymd}`);
  };
  const start = midnight(day);
  const next = BERLIN_DAY.format(new Date(start.getTime() + 26 * 3_600_000));
  return { day, start, end: midnight(next) };
}

export class MessageQuota {
  private readonly counts = new Map<string, Promise<DayCount>>();
  private readonly now: () => Date;

  constructor(private readonly options: MessageQuotaOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /** Takes one message of the system's quota for today, or refuses with GW_ERR_QUOTA_EXCEEDED. */
  async take(systemId: string, perDay: number): Promise<void> {
    const today = berlinDay(this.now());
    const count = await this.countOf(systemId, today.day, today.start, perDay);
    if (count.used >= perDay) {
      const retryAfter = Math.max(1, Math.ceil((today.end.getTime() - this.now().getTime()) / 1000));
      throw new GatewayError(
        'GW_ERR_QUOTA_EXCEEDED',
        `${systemId} sent its quota of ${perDay} messages for ${today.day}; it renews at midnight (Europe/Berlin)`,
        { headers: { 'retry-after': String(retryAfter) } },
      );
    }
    count.used++;
  }

  /** Gives back what take() took: the message was not accepted. */
  async giveBack(systemId: string): Promise<void> {
    const count = await this.counts.get(systemId);
    if (count && count.day === berlinDay(this.now()).day && count.used > 0) count.used--;
  }

  private countOf(systemId: string, day: string, start: Date, perDay: number): Promise<DayCount> {
    const known = this.counts.get(systemId);
    const fresh = known?.then((c) => (c.day === day ? c : this.seed(systemId, day, start, perDay)));
    const count = fresh ?? this.seed(systemId, day, start, perDay);
    // A failed seed is not cached: the next submission tries again.
    this.counts.set(
      systemId,
      count.catch(() => ({ day: '', used: 0 })),
    );
    return count;
  }

  private async seed(systemId: string, day: string, start: Date, perDay: number): Promise<DayCount> {
    const used = (await this.options.acceptedSince?.(systemId, start.toISOString(), perDay)) ?? 0;
    return { day, used };
  }
}

/** Registers the quota check on the message submission routes. */
export function registerMessageQuota(app: FastifyInstance, options: MessageQuotaOptions): void {
  const quota = new MessageQuota(options);
  const taken = new WeakMap<FastifyRequest, string>();
  app.addHook('onRequest', async (request) => {
    if (request.method !== 'POST' || !SUBMISSIONS.has(request.routeOptions.url ?? '')) return;
    const caller = callerSystem(request, options.resolveCaller);
    if (!caller) return; // route auth refuses it
    const perDay = options.messagesPerDayOf(caller.systemId);
    if (perDay === undefined) return;
    await quota.take(caller.systemId, perDay);
    taken.set(request, caller.systemId);
  });
  app.addHook('onResponse', async (request, reply) => {
    const systemId = taken.get(request);
    if (systemId !== undefined && reply.statusCode !== 202) await quota.giveBack(systemId);
  });
}

/** Statuses of a message that was accepted (everything after `received` but `rejected`). */
const ACCEPTED_STATUSES: AuditMessageStatus[] = [
  'accepted',
  'queued',
  'delivered',
  'acknowledged',
  'failed',
  'dead-lettered',
];

/** acceptedSince() from the audit trail's message index: what a restarted process seeds its count with. */
export async function acceptedSinceFromAudit(
  store: Pick<AuditStore, 'searchMessages'>,
  systemId: string,
  from: string,
  atMost: number,
): Promise<number> {
  let counted = 0;
  let cursor: string | undefined;
  do {
    const page = await store.searchMessages({
      senderSystem: systemId,
      status: ACCEPTED_STATUSES,
      from,
      limit: Math.min(1000, atMost - counted),
      ...(cursor ? { cursor } : {}),
    });
    counted += page.items.length;
    cursor = page.next;
  } while (cursor && counted < atMost);
  return counted;
}
