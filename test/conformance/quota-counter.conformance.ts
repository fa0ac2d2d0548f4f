/**
 * The QuotaCounter conformance suite: what the in-process and the PostgreSQL quota counters must
 * both honour — at most `limit` reservations per system and day, also when callers race (in
 * PostgreSQL: two instances on one database, as two gateway processes), a day the counter has not
 * seen starts at the audit trail's count, and a release gives back one unit of its own day.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AcceptedOnDay, QuotaCounter } from '../../gateway/ports/quota-counter.ts';

export interface QuotaCounterFixture {
  counter: QuotaCounter;
  /**
   * Another instance on the same storage, as a second gateway process would open it; absent where
   * the count belongs to one process (which then races with itself).
   */
  another?: () => Promise<QuotaCounter>;
  cleanup: () => Promise<void>;
}

const DAY = '2026-11-27';
const NEXT_DAY = '2026-11-28';

async function reserveAll(counter: QuotaCounter, system: string, day: string, limit: number, times: number) {
  const results: boolean[] = [];
  for (let i = 0; i < times; i++) results.push(await counter.reserve(system, day, limit));
  return results;
}

export function runQuotaCounterConformance(
  name: string,
  factory: (acceptedOnDay: AcceptedOnDay) => Promise<QuotaCounterFixture>,
): void {
  describe(`QuotaCounter conformance: ${name}`, () => {
    let fixture: QuotaCounterFixture;
    let counter: QuotaCounter;
    const others: QuotaCounter[] = [];
    /** What the audit trail answers per system and day; asked: every question. */
    let trail: Record<string, number>;
    let asked: string[];
    let failSeeds: number;

    beforeEach(async () => {
      trail = {};
      asked = [];
      failSeeds = 0;
      fixture = await factory(async (system, day, atMost) => {
        asked.push(`${system}@${day}<=${atMost}`);
        if (failSeeds > 0) {
          failSeeds--;
          throw new Error('audit trail unavailable');
        }
        return Math.min(atMost, trail[`${system}@${day}`] ?? 0);
      });
      counter = fixture.counter;
    });
    afterEach(async () => {
      for (const c of others.splice(0)) await c.close();
      await counter.close();
      await fixture.cleanup();
    });
    const second = async () => {
      if (!fixture.another) return counter;
      const c = await fixture.another();
      others.push(c);
      return c;
    };

    it('reserves up to the limit and refuses beyond it, per system and day', async () => {
      expect(counter.kind).toBe(name);
      expect(await reserveAll(counter, 'sn-melde', DAY, 3, 5)).toEqual([true, true, true, false, false]);
      expect(await counter.reserve('th-melde', DAY, 3)).toBe(true);
      // A new day starts afresh (from the trail, which knows nothing of it here).
      expect(await reserveAll(counter, 'sn-melde', NEXT_DAY, 3, 4)).toEqual([true, true, true, false]);
    });

    it('starts a day at the audit trail count, asked once per system and day, up to the limit', async () => {
      trail[`sn-melde@${DAY}`] = 2;
      trail[`th-melde@${DAY}`] = 9;
      expect(await reserveAll(counter, 'sn-melde', DAY, 4, 3)).toEqual([true, true, false]);
      expect(await counter.reserve('th-melde', DAY, 4)).toBe(false);
      expect(asked).toEqual([`sn-melde@${DAY}<=4`, `th-melde@${DAY}<=4`]);
      // Another instance (another process) goes on with the same count and does not ask again.
      const other = await second();
      expect(await other.reserve('sn-melde', DAY, 4)).toBe(false);
      expect(asked).toHaveLength(2);
    });

    it('lets the limit change during the day: the count stays, the new limit applies', async () => {
      expect(await reserveAll(counter, 'sn-melde', DAY, 5, 3)).toEqual([true, true, true]);
      expect(await counter.reserve('sn-melde', DAY, 2)).toBe(false);
      expect(await reserveAll(counter, 'sn-melde', DAY, 4, 2)).toEqual([true, false]);
    });

    it('gives back one unit of the day it was reserved on, never below zero', async () => {
      expect(await reserveAll(counter, 'sn-melde', DAY, 2, 3)).toEqual([true, true, false]);
      await counter.release('sn-melde', DAY);
      expect(await reserveAll(counter, 'sn-melde', DAY, 2, 2)).toEqual([true, false]);
      // A release of another system or another day leaves this count alone.
      await counter.release('th-melde', DAY);
      await counter.release('sn-melde', '2026-11-26');
      expect(await counter.reserve('sn-melde', DAY, 2)).toBe(false);
      // More releases than reservations: the count stops at zero, the limit still holds.
      for (let i = 0; i < 4; i++) await counter.release('sn-melde', DAY);
      expect(await reserveAll(counter, 'sn-melde', DAY, 2, 3)).toEqual([true, true, false]);
    });

    it('fails a reservation whose day cannot be seeded, and asks the trail again on the next one', async () => {
      trail[`sn-melde@${DAY}`] = 1;
      failSeeds = 1;
      await expect(counter.reserve('sn-melde', DAY, 2)).rejects.toThrow(/audit trail unavailable/);
      expect(await reserveAll(counter, 'sn-melde', DAY, 2, 2)).toEqual([true, false]);
      expect(asked).toEqual([`sn-melde@${DAY}<=2`, `sn-melde@${DAY}<=2`]);
    });

    it('never exceeds the limit when two instances reserve in parallel', async () => {
      const limit = 25;
      trail[`sn-melde@${DAY}`] = 5;
      const instances = [counter, await second()];
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) => instances[i % 2]!.reserve('sn-melde', DAY, limit)),
      );
      expect(results.filter(Boolean)).toHaveLength(limit - 5);
      expect(await instances[0]!.reserve('sn-melde', DAY, limit)).toBe(false);
      expect(await instances[1]!.reserve('sn-melde', DAY, limit)).toBe(false);
    });

    it('never exceeds the limit when two instances reserve and release in parallel', async () => {
      const limit = 25;
      trail[`sn-melde@${DAY}`] = 5;
      const instances = [counter, await second()];
      const race = async (c: QuotaCounter, i: number) => {
        const got = await c.reserve('sn-melde', DAY, limit);
        // Every fifth one is refused downstream and gives its unit back.
        if (got && i % 5 === 0) {
          await c.release('sn-melde', DAY);
          return 'released';
        }
        return got ? 'kept' : 'refused';
      };
      const outcomes = await Promise.all(Array.from({ length: 80 }, (_, i) => race(instances[i % 2]!, i)));
      const kept = outcomes.filter((o) => o === 'kept').length;
      expect(kept).toBeLessThanOrEqual(limit - 5);
      // Whatever was released is available again; afterwards both see the same, full count.
      const topUp = await Promise.all(
        Array.from({ length: 30 }, (_, i) => instances[i % 2]!.reserve('sn-melde', DAY, limit)),
      );
      expect(kept + topUp.filter(Boolean).length).toBe(limit - 5);
      expect(await instances[0]!.reserve('sn-melde', DAY, limit)).toBe(false);
      expect(await instances[1]!.reserve('sn-melde', DAY, limit)).toBe(false);
    });
  });
}
