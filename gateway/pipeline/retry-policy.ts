/**
 * When a failed delivery is tried again, and when the gateway gives up: exponential backoff with
 * "equal jitter" (half the step fixed, half random), so the delays still grow with every attempt
 * while many records that failed together (a receiver went down) do not come back in one burst.
 */
export interface RetryPolicy {
  /** Delay after the first failed attempt (before jitter). */
  baseDelayMs: number;
  /** No delay is longer than this. */
  maxDelayMs: number;
  /** Failed attempts after which the record is dead-lettered. */
  maxAttempts: number;
  /** Dead-letter once this long has passed since the first failed attempt. */
  maxAgeMs: number;
}

/** The delay before attempt `failedAttempts + 1`, with jitter: between half and all of the step. */
export function backoffMs(
  policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>,
  failedAttempts: number,
  random: () => number = Math.random,
) {
  const exponent = Math.min(Math.max(failedAttempts - 1, 0), 40);
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
  return Math.round(step / 2 + random() * (step / 2));
}

export type NextStep = { kind: 'retry'; notBefore: Date } | { kind: 'dead-letter'; reason: string };

/** What to do after `failedAttempts` failed attempts, the first of them at `firstFailedAt`. */
export function nextStep(
  policy: RetryPolicy,
  failedAttempts: number,
  firstFailedAt: Date,
  now: Date,
  random: () => number = Math.random,
): NextStep {
  if (failedAttempts >= policy.maxAttempts) {
    return { kind: 'dead-letter', reason: `gave up after ${failedAttempts} attempt(s)` };
  }
  const notBefore = new Date(now.getTime() + backoffMs(policy, failedAttempts, random));
  if (notBefore.getTime() - firstFailedAt.getTime() > policy.maxAgeMs) {
    return {
      kind: 'dead-letter',
      reason: `gave up after ${failedAttempts} attempt(s): the next one would exceed the maximum age of ${policy.maxAgeMs} ms`,
    };
  }
  return { kind: 'retry', notBefore };
}
