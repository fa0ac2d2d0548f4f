/**
 * Message quotas per connected system: a directory entry may set `quota.messagesPerDay`; once that
 * many of its messages were accepted (202) on one calendar day (Europe/Berlin), further submissions
 * are refused with 429 GW_ERR_QUOTA_EXCEEDED (audited like every rejection) until midnight. Unlike
 * the rate limit (requests per minute, any route), only message submissions count, and only
 * accepted ones: a submission reserves a unit before it is processed and gives it back when it
 * ends without a 202 (refused, failed, bus unavailable).
 *
 * The count lives in a QuotaCounter (ports/quota-counter.ts): in the process for the embedded
 * gateway, in PostgreSQL when several processes share DATABASE_URL, so that the quota holds for all
 * of them together. A day's count that is not there yet (a restart; an upgrade mid-day) starts at
 * the audit trail's accepted messages of the system since midnight. A process that dies between
 * the reservation and the answer leaves that unit used for the day (in PostgreSQL): the quota errs
 * on the side of refusing.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/catalogue.ts';
import type { AuditMessageStatus, AuditStore } from '../ports/audit-store.ts';
import type { AcceptedOnDay, QuotaCounter } from '../ports/quota-counter.ts';
import { type CertificateResolver, callerSystem } from './client-auth.ts';

/** The routes that submit a message. */
const SUBMISSIONS = new Set(['/v1/systems/:systemId/messages', '/v1/messages']);

export interface MessageQuotaOptions {
  resolveCaller: CertificateResolver;
  /** The system's messages per day, if its directory entry sets a quota. */
  messagesPerDayOf(systemId: string): number | undefined;
  counter: QuotaCounter;
  now?: () => Date;
}

const BERLIN_DAY = new Intl.DateTimeFormat('en-CA', {
  timeZone: 'Europe/Berlin',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
});

/** The instant at which the Berlin calendar day `ymd` (YYYY-MM-DD) starts. */
export function berlinMidnight(ymd: string): Date {
  const [y, m, d] = ymd.split('-').map(Number) as [number, number, number];
  // Berlin is UTC+1 or UTC+2; the midnight is the one of these candidates that falls on `ymd`.
  for (const offsetHours of [1, 2]) {
    const candidate = new Date(Date.UTC(y, m - 1, d) - offsetHours * 3_600_000);
    const before = new Date(candidate.getTime() - 1);
    if (BERLIN_DAY.format(candidate) === ymd && BERLIN_DAY.format(before) !== ymd) return candidate;
  }
  throw new Error(`no Berlin midnight found for ${ymd}`);
}

/** The Berlin calendar day of `at` (YYYY-MM-DD) and the instants at which it starts and ends. */
export function berlinDay(at: Date): { day: string; start: Date; end: Date } {
  const day = BERLIN_DAY.format(at);
  const start = berlinMidnight(day);
  const next = BERLIN_DAY.format(new Date(start.getTime() + 26 * 3_600_000));
  return { day, start, end: berlinMidnight(next) };
}

export class MessageQuota {
  private readonly now: () => Date;

  constructor(private readonly options: Pick<MessageQuotaOptions, 'counter' | 'now'>) {
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Takes one message of the system's quota for today and answers the day it counts on, or refuses
   * with GW_ERR_QUOTA_EXCEEDED.
   */
  async take(systemId: string, perDay: number): Promise<string> {
    const today = berlinDay(this.now());
    if (await this.options.counter.reserve(systemId, today.day, perDay)) return today.day;
    const retryAfter = Math.max(1, Math.ceil((today.end.getTime() - this.now().getTime()) / 1000));
    throw new GatewayError(
      'GW_ERR_QUOTA_EXCEEDED',
      `${systemId} sent its quota of ${perDay} messages for ${today.day}; it renews at midnight (Europe/Berlin)`,
      { headers: { 'retry-after': String(retryAfter) } },
    );
  }

  /** Gives back what take() took on `day`: the message was not accepted. */
  async giveBack(systemId: string, day: string): Promise<void> {
    await this.options.counter.release(systemId, day);
  }
}

/** Registers the quota check on the message submission routes. */
export function registerMessageQuota(app: FastifyInstance, options: MessageQuotaOptions): void {
  const quota = new MessageQuota(options);
  const taken = new WeakMap<FastifyRequest, { systemId: string; day: string }>();
  app.addHook('onRequest', async (request) => {
    if (request.method !== 'POST' || !SUBMISSIONS.has(request.routeOptions.url ?? '')) return;
    const caller = callerSystem(request, options.resolveCaller);
    if (!caller) return; // route auth refuses it
    const perDay = options.messagesPerDayOf(caller.systemId);
    if (perDay === undefined) return;
    const day = await quota.take(caller.systemId, perDay);
    taken.set(request, { systemId: caller.systemId, day });
  });
  app.addHook('onResponse', async (request, reply) => {
    const reservation = taken.get(request);
    if (reservation && reply.statusCode !== 202) await quota.giveBack(reservation.systemId, reservation.day);
  });
}

/**
 * Statuses of a message that was accepted (everything after `received` but `rejected` and
 * `failed`: a failed message was not accepted, and its sender is told to send it again).
 */
const ACCEPTED_STATUSES: AuditMessageStatus[] = [
  'accepted',
  'queued',
  'delivered',
  'acknowledged',
  'dead-lettered',
];

/** AcceptedOnDay from the audit trail's message index: what a day's count starts at. */
export function acceptedOnDayFromAudit(store: Pick<AuditStore, 'searchMessages'>): AcceptedOnDay {
  return (systemId, day, atMost) =>
    acceptedSinceFromAudit(store, systemId, berlinMidnight(day).toISOString(), atMost);
}

/** Messages of the system accepted since `from` (ISO 8601), counted up to `atMost`. */
async function acceptedSinceFromAudit(
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
