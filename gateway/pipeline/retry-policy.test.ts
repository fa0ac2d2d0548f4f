import { describe, expect, it } from 'vitest';
import { backoffMs, nextStep, type RetryPolicy } from './retry-policy.ts';

const policy: RetryPolicy = { baseDelayMs: 1000, maxDelayMs: 60_000, maxAttempts: 5, maxAgeMs: 3_600_000 };

describe('retry policy', () => {
  it('doubles the step with every failed attempt, up to the maximum, jittered between half and all of it', () => {
    const low = () => 0;
    const high = () => 0.999999;
    expect([1, 2, 3, 4].map((n) => backoffMs(policy, n, low))).toEqual([500, 1000, 2000, 4000]);
    expect([1, 2, 3, 4].map((n) => backoffMs(policy, n, high))).toEqual([1000, 2000, 4000, 8000]);
    expect(backoffMs(policy, 30, high)).toBe(60_000);
    expect(backoffMs(policy, 10_000, low)).toBe(30_000);
    for (let i = 0; i < 1000; i++) {
      const d = backoffMs(policy, 3);
      expect(d).toBeGreaterThanOrEqual(2000);
      expect(d).toBeLessThanOrEqual(4000);
    }
  });

  it('retries until the attempts are used up, then dead-letters', () => {
    const now = new Date('2026-11-03T10:00:00Z');
    const step = nextStep(policy, 2, now, now, () => 0);
    expect(step).toEqual({ kind: 'retry', notBefore: new Date(now.getTime() + 1000) });
    expect(nextStep(policy, 5, now, now)).toEqual({
      kind: 'dead-letter',
      reason: 'gave up after 5 attempt(s)',
    });
  });

  it('dead-letters when the next attempt would come after the maximum age', () => {
    const first = new Date('2026-11-03T10:00:00Z');
    const now = new Date(first.getTime() + policy.maxAgeMs - 100);
    const step = nextStep(policy, 1, first, now, () => 0);
    expect(step.kind).toBe('dead-letter');
    expect(nextStep(policy, 1, first, new Date(first.getTime() + 1000), () => 0).kind).toBe('retry');
  });
});
