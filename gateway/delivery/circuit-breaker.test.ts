import { describe, expect, it } from 'vitest';
import {
  type BreakerSettings,
  type BreakerState,
  CircuitBreaker,
  CircuitBreakers,
} from './circuit-breaker.ts';

const settings: BreakerSettings = {
  consecutiveFailures: 3,
  failureRate: 0.5,
  minPushesInWindow: 10,
  windowMs: 60_000,
  coolDownMs: 5_000,
};

function clocked(overrides: Partial<BreakerSettings> = {}) {
  let now = 1_000_000;
  const changes: BreakerState[] = [];
  const breaker = new CircuitBreaker(
    { ...settings, ...overrides },
    () => now,
    (s) => changes.push(s),
  );
  return { breaker, changes, advance: (ms: number) => (now += ms) };
}

describe('circuit breaker', () => {
  it('opens after N consecutive failures and refuses until the cool-down has passed', () => {
    const { breaker, changes, advance } = clocked();
    breaker.failed('503');
    breaker.failed('503');
    expect(breaker.current).toBe('closed');
    breaker.succeeded(); // resets the run
    breaker.failed('503');
    breaker.failed('503');
    expect(breaker.admit()).toEqual({ allowed: true, probe: false });
    breaker.failed('connection refused');
    expect(breaker.current).toBe('open');
    const refused = breaker.admit();
    expect(refused.allowed).toBe(false);
    if (refused.allowed) return;
    expect(refused.retryAt.getTime() - 1_000_000).toBe(5_000);
    expect(refused.reason).toMatch(/circuit open since .*last failure: connection refused/);
    advance(4_999);
    expect(breaker.admit().allowed).toBe(false);
    expect(changes).toEqual(['open']);
  });

  it('half-open lets exactly one probe through; its success closes, its failure re-opens', () => {
    const { breaker, changes, advance } = clocked();
    for (let i = 0; i < 3; i++) breaker.failed('503');
    advance(5_000);
    expect(breaker.admit()).toEqual({ allowed: true, probe: true });
    expect(breaker.current).toBe('half-open');
    const second = breaker.admit();
    expect(second.allowed).toBe(false);
    breaker.failed('503 again');
    expect(breaker.current).toBe('open');
    expect(breaker.admit().allowed).toBe(false);
    advance(5_000);
    expect(breaker.admit()).toEqual({ allowed: true, probe: true });
    breaker.succeeded();
    expect(breaker.current).toBe('closed');
    expect(breaker.admit()).toEqual({ allowed: true, probe: false });
    expect(changes).toEqual(['open', 'half-open', 'open', 'half-open', 'closed']);
  });

  it('a probe that never reports frees the half-open slot after a cool-down', () => {
    const { breaker, advance } = clocked();
    for (let i = 0; i < 3; i++) breaker.failed('503');
    advance(5_000);
    expect(breaker.admit().allowed).toBe(true);
    advance(4_000);
    expect(breaker.admit().allowed).toBe(false);
    advance(1_000);
    expect(breaker.admit()).toEqual({ allowed: true, probe: true });
  });

  it('opens on the failure rate within the window without N in a row, and forgets old outcomes', () => {
    const { breaker, advance } = clocked({ consecutiveFailures: 100 });
    // Alternating: never 100 in a row, but half of the pushes fail.
    for (let i = 0; i < 4; i++) {
      breaker.failed('503');
      breaker.succeeded();
    }
    expect(breaker.current).toBe('closed'); // 8 pushes: below the minimum for a rate
    advance(61_000); // those leave the window
    for (let i = 0; i < 4; i++) {
      breaker.failed('503');
      breaker.succeeded();
    }
    expect(breaker.current).toBe('closed');
    breaker.failed('503');
    breaker.succeeded();
    expect(breaker.current).toBe('closed'); // 10 pushes, 5 failed, but the last was a success …
    breaker.failed('503'); // … 11 pushes, 6 failed: over the rate
    expect(breaker.current).toBe('open');
  });

  it('keeps one breaker per system and reports their state changes', () => {
    const seen: string[] = [];
    const breakers = new CircuitBreakers(settings, (id, s) => seen.push(`${id}:${s}`));
    for (let i = 0; i < 3; i++) breakers.of('a').failed('503');
    expect(breakers.of('a').current).toBe('open');
    expect(breakers.of('b').admit().allowed).toBe(true);
    expect(Object.fromEntries(breakers.states())).toEqual({ a: 'open', b: 'closed' });
    expect(seen).toEqual(['a:open']);
  });
});
