import { describe, expect, it } from 'vitest';
import { berlinDay, MessageQuota } from './message-quota.ts';

describe('message quota', () => {
  it('counts per Berlin calendar day, across the daylight saving changes', () => {
    // 23:30 UTC in winter is 00:30 the next day in Berlin (UTC+1).
    expect(berlinDay(new Date('2026-01-05T23:30:00Z'))).toEqual({
      day: '2026-01-06',
      start: new Date('2026-01-05T23:00:00Z'),
      end: new Date('2026-01-06T23:00:00Z'),
    });
    // Summer: UTC+2.
    expect(berlinDay(new Date('2026-07-01T21:59:59Z')).day).toBe('2026-07-01');
    expect(berlinDay(new Date('2026-07-01T22:00:00Z')).start).toEqual(new Date('2026-07-01T22:00:00Z'));
    // 29 March 2026 has 23 hours, 25 October 2026 has 25.
    const spring = berlinDay(new Date('2026-03-29T12:00:00Z'));
    expect(spring.end.getTime() - spring.start.getTime()).toBe(23 * 3_600_000);
    const autumn = berlinDay(new Date('2026-10-25T12:00:00Z'));
    expect(autumn.end.getTime() - autumn.start.getTime()).toBe(25 * 3_600_000);
  });

  it('refuses over the quota, gives back what was not accepted, seeds once per day, renews at midnight', async () => {
    let now = new Date('2026-01-05T10:00:00Z');
    const seeds: string[] = [];
    const quota = new MessageQuota({
      resolveCaller: { resolve: () => null } as never,
      messagesPerDayOf: () => 3,
      acceptedSince: async (system, from) => {
        seeds.push(`${system}@${from}`);
        return 1;
      },
      now: () => now,
    });
    await quota.take('sn-melde', 3);
    await quota.take('sn-melde', 3);
    await expect(quota.take('sn-melde', 3)).rejects.toMatchObject({ code: 'GW_ERR_QUOTA_EXCEEDED' });
    await quota.giveBack('sn-melde');
    await quota.take('sn-melde', 3);
    const refused = await quota.take('sn-melde', 3).catch((e) => e);
    // Retry-After: until Berlin midnight (23:00 UTC), 13 hours.
    expect(refused.headers['retry-after']).toBe(String(13 * 3600));
    expect(seeds).toEqual(['sn-melde@2026-01-04T23:00:00.000Z']);
    // Another system has its own count.
    await quota.take('th-melde', 3);
    now = new Date('2026-01-05T23:00:00Z');
    await quota.take('sn-melde', 3);
    expect(seeds).toEqual([
      'sn-melde@2026-01-04T23:00:00.000Z',
      'th-melde@2026-01-04T23:00:00.000Z',
      'sn-melde@2026-01-05T23:00:00.000Z',
    ]);
  });
});
