/**
 * Gateway logs kept in memory and shown only when a test fails. Suites run their gateways with
 * silent logs (the output of 125 files would bury everything), which left a failed CI run with no
 * trace of why — a Kafka consumer that crashed, a breaker that opened. A kept logger records the
 * last lines at `warn` and above (TEST_KEPT_LOG_LEVEL) and test/setup/kept-logs.ts prints them
 * after a failed test. TEST_LOG_LEVEL still sends everything to stdout instead.
 */
import { createLogger, type Logger } from '../../gateway/log/logger.ts';

const KEPT_LINES = 400;

interface Kept {
  name: string;
  lines: string[];
  dropped: number;
}

const kept: Kept[] = [];

/** A logger whose last KEPT_LINES lines are kept for a failure report under `name`. */
export function keptLogger(name: string): Logger {
  const log: Kept = { name, lines: [], dropped: 0 };
  kept.push(log);
  return createLogger({
    level: process.env.TEST_KEPT_LOG_LEVEL ?? 'warn',
    destination: {
      write(line: string) {
        log.lines.push(line.trimEnd());
        if (log.lines.length > KEPT_LINES) {
          log.lines.shift();
          log.dropped++;
        }
      },
    },
  });
}

/** The kept lines of every logger that has any, as one block of text ('' when there are none). */
export function keptLogReport(): string {
  return kept
    .filter((k) => k.lines.length > 0)
    .map((k) => {
      const head = `--- kept log: ${k.name}${k.dropped ? ` (${k.dropped} earlier lines dropped)` : ''}`;
      return [head, ...k.lines].join('\n');
    })
    .join('\n');
}

/** Forgets the lines kept so far (the loggers keep keeping). */
export function clearKeptLogs(): void {
  for (const k of kept) {
    k.lines = [];
    k.dropped = 0;
  }
}
