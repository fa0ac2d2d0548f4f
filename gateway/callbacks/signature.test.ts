import { describe, expect, it } from 'vitest';
import { ReplayGuard, signCallback, verifyCallback } from './signature.ts';

const IDS = 100_000;
const sig = (i: number) => i.toString(16).padStart(64, '0');

describe('ReplayGuard', () => {
  it('detects replays among 100,000 signatures and lets each go once it expired', () => {
    // One call per signature walking all the kept ones (the guard this replaces) is 5·10^9 steps
    // here, about 50 s; this one takes about half a second.
    const guard = new ReplayGuard();
    const maxAgeMs = 300_000;
    // A callback every 5 ms for 500 s: the oldest expire while the later ones come in.
    let refused = 0;
    let replaysAccepted = 0;
    for (let i = 0; i < IDS; i++) {
      const now = i * 5;
      if (!guard.remember(sig(i), now + maxAgeMs, now)) refused++;
      if (i % 1000 === 999) {
        // A replay of one just accepted, and of one still inside the window.
        if (guard.remember(sig(i), now + maxAgeMs, now)) replaysAccepted++;
        if (guard.remember(sig(i - 999), now + maxAgeMs, now)) replaysAccepted++;
      }
    }
    expect(refused).toBe(0);
    expect(replaysAccepted).toBe(0);
    const end = (IDS - 1) * 5;
    // Only the last 300 s of signatures are kept: 60,000 of them.
    expect(guard.size).toBe(maxAgeMs / 5);
    // The first 40,000 expired: accepted again; the last ones are replays.
    expect(guard.remember(sig(0), end + maxAgeMs, end)).toBe(true);
    expect(guard.remember(sig(IDS - 1), end + maxAgeMs, end)).toBe(false);
    expect(guard.remember(sig(IDS - maxAgeMs / 5), end + maxAgeMs, end)).toBe(false);
    // Everything expired: memory is given back, every signature is new again.
    const later = end + maxAgeMs + 1;
    expect(guard.remember(sig(IDS), later + maxAgeMs, later)).toBe(true);
    expect(guard.size).toBe(1);
    for (let i = 0; i < IDS; i += 997) expect(guard.remember(sig(i), later + maxAgeMs, later)).toBe(true);
  }, 10_000);

  it('keeps a signature that expires later than one accepted after it, until it expires', () => {
    const guard = new ReplayGuard();
    expect(guard.remember('late', 2_000, 0)).toBe(true);
    expect(guard.remember('early', 1_000, 0)).toBe(true);
    // 'early' expired, though behind 'late' in the queue: it is no replay any more.
    expect(guard.remember('early', 2_500, 1_500)).toBe(true);
    expect(guard.remember('early', 2_500, 1_600)).toBe(false);
    expect(guard.remember('late', 3_000, 1_900)).toBe(false);
    // Both expired: both new, their first entries swept without forgetting the second 'early'.
    expect(guard.remember('late', 5_000, 2_000)).toBe(true);
    expect(guard.remember('early', 5_000, 2_100)).toBe(false);
    expect(guard.remember('early', 6_000, 2_500)).toBe(true);
    expect(guard.size).toBe(2);
  });

  it('refuses a replayed callback through verifyCallback', () => {
    const guard = new ReplayGuard();
    const secret = 'a callback secret of 32 bytes or more, for the guard';
    const now = new Date();
    const body = '{"type":"message.delivered"}';
    const headers = signCallback(secret, body, Math.floor(now.getTime() / 1000));
    expect(verifyCallback({ secret, body, headers, now, replayGuard: guard })).toMatchObject({ ok: true });
    expect(verifyCallback({ secret, body, headers, now, replayGuard: guard })).toEqual({
      ok: false,
      reason: 'replayed',
    });
  });
});
