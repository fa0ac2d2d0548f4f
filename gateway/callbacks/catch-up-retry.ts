/**
 * The start-up catch-up (catch-up.ts), tried again until it succeeds. Until it has, no callback
 * watermark is written (callback-watermarks.ts, release()) and every chain's first append looks like
 * a gap: a catch-up that failed once (the database briefly away at start) and was left for the next
 * start would keep this process's marks still for its whole life, and make that start replay all of
 * it. Running it again is safe: its follow-ups are idempotent, callbacks at least once.
 *
 * The waits are the delivery stage's backoff (retry-policy.ts): doubling up to maxDelayMs, each
 * between half and all of its step, so that replicas that failed together (the database they share
 * was away) do not all try again at the same instant.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log/logger.ts';
import { backoffMs } from '../pipeline/retry-policy.ts';

export interface CatchUpRetryOptions {
  /** The step of the first wait after a failure; it doubles up to maxDelayMs. */
  firstDelayMs?: number;
  maxDelayMs?: number;
  logger: Logger;
  /** The jitter's source (tests pass a fixed one). */
  random?: () => number;
}

export interface CatchUpRun {
  /** Resolves when the catch-up succeeded, or when stop() ended the retries; never rejects. */
  done: Promise<void>;
  /** No further attempt; a wait under way ends at once. */
  stop(): void;
}

export function catchUpUntilDone(catchUp: () => Promise<unknown>, options: CatchUpRetryOptions): CatchUpRun {
  const policy = { baseDelayMs: options.firstDelayMs ?? 1_000, maxDelayMs: options.maxDelayMs ?? 60_000 };
  const stopping = new AbortController();
  const done = (async () => {
    for (let failed = 1; !stopping.signal.aborted; failed++) {
      try {
        await catchUp();
        return;
      } catch (error) {
        if (stopping.signal.aborted) return;
        const delayMs = backoffMs(policy, failed, options.random);
        options.logger.error(
          { err: error, retryInMs: delayMs },
          'catching up on receipts, deadlines and callbacks failed; trying again',
        );
        // Ends early, rejecting, when stopped.
        await sleep(delayMs, undefined, { signal: stopping.signal }).catch(() => {});
      }
    }
  })();
  return { done, stop: () => stopping.abort() };
}
