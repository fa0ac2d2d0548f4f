/**
 * A circuit breaker per receiving system for push delivery, so that a receiver that is down is not
 * hammered by every parked record of every case, and its records wait without costing attempts.
 *
 *   closed ──(N consecutive failures, or a failure rate over a window)──▶ open
 *   open ──(cool-down passed)──▶ half-open: exactly one probe push is let through
 *   half-open ──probe succeeds──▶ closed      half-open ──probe fails──▶ open (a new cool-down)
 *
 * While a breaker is not closed, a push it refuses is not made: the delivery stage parks the record
 * for retry (not counted as an attempt at the receiver; the age limit still dead-letters it) until
 * `retryAt`. State lives in memory, per process: with several gateway processes each has its own
 * breakers, so a dead receiver sees at most one probe per process per cool-down.
 */

export interface BreakerSettings {
  /** Opens after this many failures in a row. */
  consecutiveFailures: number;
  /** Opens when at least this share (0..1] of the pushes within `windowMs` failed … */
  failureRate: number;
  /** … and at least this many pushes were made within the window (a rate of few pushes says little). */
  minPushesInWindow: number;
  windowMs: number;
  /** How long an open breaker refuses pushes before it lets one probe through. */
  coolDownMs: number;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

export type Admission = { allowed: true; probe: boolean } | { allowed: false; retryAt: Date; reason: string };

export class CircuitBreaker {
  private state: BreakerState = 'closed';
  private consecutive = 0;
  /** Outcomes within the window: time and whether it failed, oldest first. */
  private outcomes: { at: number; failed: boolean }[] = [];
  private openedAt = 0;
  private probeUntil = 0;
  private lastReason = '';

  constructor(
    private readonly settings: BreakerSettings,
    private readonly now: () => number = Date.now,
    private readonly onChange: (state: BreakerState) => void = () => {},
  ) {}

  get current(): BreakerState {
    return this.state;
  }

  /** May a push be made now? A half-open breaker admits one probe at a time. */
  admit(): Admission {
    const now = this.now();
    if (this.state === 'open') {
      const until = this.openedAt + this.settings.coolDownMs;
      if (now < until) return this.refuse(until, `circuit open since ${iso(this.openedAt)}`);
      this.transition('half-open');
    }
    if (this.state === 'half-open') {
      if (now < this.probeUntil) {
        return this.refuse(this.probeUntil, 'circuit half-open: a probe push is under way');
      }
      // A probe that never reports back (its step threw before the push) frees the slot after a cool-down.
      this.probeUntil = now + this.settings.coolDownMs;
      return { allowed: true, probe: true };
    }
    return { allowed: true, probe: false };
  }

  /** The receiver answered (2xx, or a 4xx that says it is alive but refuses this message). */
  succeeded(): void {
    this.consecutive = 0;
    this.remember(false);
    if (this.state !== 'closed') {
      this.outcomes = [];
      this.transition('closed');
    }
  }

  /** The receiver failed (no answer, 5xx, 408/425/429). */
  failed(reason: string): void {
    this.lastReason = reason;
    this.consecutive++;
    this.remember(true);
    if (this.state === 'half-open') {
      this.open();
      return;
    }
    if (this.state === 'open') return;
    const { settings } = this;
    const failures = this.outcomes.filter((o) => o.failed).length;
    const byRate =
      this.outcomes.length >= settings.minPushesInWindow &&
      failures / this.outcomes.length >= settings.failureRate;
    if (this.consecutive >= settings.consecutiveFailures || byRate) this.open();
  }

  private open(): void {
    this.openedAt = this.now();
    this.probeUntil = 0;
    this.transition('open');
  }

  private refuse(until: number, why: string): Admission {
    const last = this.lastReason ? `; last failure: ${this.lastReason}` : '';
    return { allowed: false, retryAt: new Date(until), reason: `${why}${last}` };
  }

  private remember(failed: boolean): void {
    const now = this.now();
    this.outcomes.push({ at: now, failed });
    const from = now - this.settings.windowMs;
    let drop = 0;
    while (drop < this.outcomes.length && this.outcomes[drop]!.at < from) drop++;
    if (drop > 0) this.outcomes = this.outcomes.slice(drop);
  }

  private transition(state: BreakerState): void {
    if (state === this.state) return;
    this.state = state;
    this.onChange(state);
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The breakers of all push receivers of this process, made on first use. */
export class CircuitBreakers {
  private readonly breakers = new Map<string, CircuitBreaker>();

  constructor(
    private readonly settings: BreakerSettings,
    private readonly onChange: (systemId: string, state: BreakerState) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  of(systemId: string): CircuitBreaker {
    let breaker = this.breakers.get(systemId);
    if (!breaker) {
      breaker = new CircuitBreaker(this.settings, this.now, (state) => this.onChange(systemId, state));
      this.breakers.set(systemId, breaker);
    }
    return breaker;
  }

  /** Current state per system that has pushed at least once. */
  states(): Map<string, BreakerState> {
    return new Map([...this.breakers].map(([id, b]) => [id, b.current]));
  }
}

/** Gauge value of a state: 0 closed, 1 half-open, 2 open. */
export const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };
