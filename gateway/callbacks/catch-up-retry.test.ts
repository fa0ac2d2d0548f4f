import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { catchUpUntilDone } from './catch-up-retry.ts';

/** A logger whose lines the test reads. */
function recordingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(JSON.parse(chunk.toString()));
      callback();
    },
  });
  return { logger: pino({ level: 'error' }, stream), lines };
}

describe('the start-up catch-up, tried again until it succeeds', () => {
  it('tries a failed catch-up again, waiting longer each time, until it succeeds', async () => {
    const { logger, lines } = recordingLogger();
    const attempts: number[] = [];
    const started = performance.now();
    const run = catchUpUntilDone(
      async () => {
        attempts.push(performance.now() - started);
        if (attempts.length < 3) throw new Error('connection terminated unexpectedly');
      },
      // The jitter at its top: each wait is its whole step.
      { firstDelayMs: 20, maxDelayMs: 1_000, logger, random: () => 1 },
    );
    await run.done;
    expect(attempts).toHaveLength(3);
    // 20 ms, then 40 ms: the steps double.
    expect(attempts[1]! - attempts[0]!).toBeGreaterThanOrEqual(19);
    expect(attempts[2]! - attempts[1]!).toBeGreaterThanOrEqual(39);
    expect(lines.map((l) => l.retryInMs)).toEqual([20, 40]);
    expect(
      lines.every((l) => (l.err as { message: string }).message === 'connection terminated unexpectedly'),
    ).toBe(true);
  });

  it('caps the wait', async () => {
    const { logger, lines } = recordingLogger();
    let attempts = 0;
    const run = catchUpUntilDone(
      async () => {
        if (++attempts < 5) throw new Error('down');
      },
      { firstDelayMs: 5, maxDelayMs: 12, logger, random: () => 1 },
    );
    await run.done;
    expect(lines.map((l) => l.retryInMs)).toEqual([5, 10, 12, 12]);
  });

  it('waits between half and all of each step (retry-policy.ts), so replicas that failed together spread out', async () => {
    const { logger, lines } = recordingLogger();
    let attempts = 0;
    const run = catchUpUntilDone(
      async () => {
        if (++attempts < 5) throw new Error('down');
      },
      { firstDelayMs: 8, maxDelayMs: 40, logger, random: () => 0 },
    );
    await run.done;
    // The jitter at its bottom: half of 8, 16, 32, 40.
    expect(lines.map((l) => l.retryInMs)).toEqual([4, 8, 16, 20]);
    const jittered: number[] = [];
    for (let i = 0; i < 60; i++) {
      const { logger: quiet, lines: seen } = recordingLogger();
      let tries = 0;
      await catchUpUntilDone(
        async () => {
          if (++tries < 2) throw new Error('down');
        },
        { firstDelayMs: 2, logger: quiet },
      ).done;
      jittered.push(seen[0]!.retryInMs as number);
    }
    // A step of 2 ms: 1 or 2 ms, both (the chance of 60 alike is 2^-59).
    expect(new Set(jittered)).toEqual(new Set([1, 2]));
  });

  it('ends a wait at once when stopped, and tries no more', async () => {
    const { logger } = recordingLogger();
    let attempts = 0;
    const run = catchUpUntilDone(
      async () => {
        attempts++;
        throw new Error('down');
      },
      { firstDelayMs: 60_000, logger },
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    const stopping = performance.now();
    run.stop();
    await run.done;
    expect(performance.now() - stopping).toBeLessThan(1_000);
    expect(attempts).toBe(1);
  });

  it('runs once when the first attempt succeeds', async () => {
    const { logger, lines } = recordingLogger();
    let attempts = 0;
    await catchUpUntilDone(
      async () => {
        attempts++;
      },
      { logger },
    ).done;
    expect(attempts).toBe(1);
    expect(lines).toEqual([]);
  });
});
