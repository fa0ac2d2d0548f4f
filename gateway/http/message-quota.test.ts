import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteAuditStore } from '../audit/sqlite-audit-store.ts';
import type { AuditEventKind } from '../ports/audit-store.ts';
import { InProcessQuotaCounter } from '../quota/in-process-quota-counter.ts';
import { acceptedOnDayFromAudit, berlinDay, berlinMidnight, MessageQuota } from './message-quota.ts';

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

  it('finds the Berlin midnight that starts a day, in winter and in summer', () => {
    expect(berlinMidnight('2026-01-06')).toEqual(new Date('2026-01-05T23:00:00Z'));
    expect(berlinMidnight('2026-07-02')).toEqual(new Date('2026-07-01T22:00:00Z'));
    // The spring change happens at 02:00, after midnight: 29 March still starts at UTC+1.
    expect(berlinMidnight('2026-03-29')).toEqual(new Date('2026-03-28T23:00:00Z'));
    expect(berlinMidnight('2026-03-30')).toEqual(new Date('2026-03-29T22:00:00Z'));
  });

  it('refuses over the quota until Berlin midnight, gives back on the day it took, renews at midnight', async () => {
    let now = new Date('2026-01-05T10:00:00Z');
    const seeds: string[] = [];
    const quota = new MessageQuota({
      counter: new InProcessQuotaCounter(async (system, day) => {
        seeds.push(`${system}@${day}`);
        return 1;
      }),
      now: () => now,
    });
    expect(await quota.take('sn-melde', 3)).toBe('2026-01-05');
    await quota.take('sn-melde', 3);
    await expect(quota.take('sn-melde', 3)).rejects.toMatchObject({ code: 'GW_ERR_QUOTA_EXCEEDED' });
    await quota.giveBack('sn-melde', '2026-01-05');
    await quota.take('sn-melde', 3);
    const refused = await quota.take('sn-melde', 3).catch((e) => e);
    expect(refused.message).toContain('sn-melde sent its quota of 3 messages for 2026-01-05');
    // Retry-After: until Berlin midnight (23:00 UTC), 13 hours.
    expect(refused.headers['retry-after']).toBe(String(13 * 3600));
    expect(seeds).toEqual(['sn-melde@2026-01-05']);
    // Another system has its own count.
    await quota.take('th-melde', 3);
    now = new Date('2026-01-05T23:00:00Z');
    expect(await quota.take('sn-melde', 3)).toBe('2026-01-06');
    expect(seeds).toEqual(['sn-melde@2026-01-05', 'th-melde@2026-01-05', 'sn-melde@2026-01-06']);
  });

  it("a day's count starts at the accepted messages in the audit trail: not the failed ones", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gw-quota-audit-'));
    const store = new SqliteAuditStore({ file: path.join(dir, 'audit.sqlite') });
    try {
      const trail = (messageId: string, kinds: AuditEventKind[]) =>
        kinds.map((kind) => ({
          time: '2026-01-05T10:00:00.000Z',
          kind,
          actor: 'system:sn-melde',
          messageId,
          sender: null,
          receiver: null,
          senderSystem: 'sn-melde',
          receiverSystem: 'st-melde',
          messageType: null,
          digest: null,
          detail: {},
        }));
      await store.append([
        ...trail('queued', ['received', 'accepted', 'signed', 'queued']),
        // The bus did not confirm it: the sender was told to send it again, nothing was accepted.
        ...trail('failed', ['failed']),
        // Sent again and accepted: it counts once.
        ...trail('resent', ['failed', 'received', 'accepted', 'signed', 'queued']),
        ...trail('refused', ['rejected']),
      ]);
      expect(await acceptedOnDayFromAudit(store)('sn-melde', '2026-01-05', 100)).toBe(2);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
