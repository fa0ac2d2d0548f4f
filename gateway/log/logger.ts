/**
 * The one logger. Lines are pino JSON. Anything tied to a message logs through `forMessage`, so
 * the message id is on every such line. Payloads, personal data and keys are never logged; the
 * redaction list is a second line of defence, not the first.
 */
import { type Logger, pino } from 'pino';
import { traceFields } from './trace-scope.ts';

export type { Logger } from 'pino';

export function createLogger(options: {
  level: string;
  name?: string;
  destination?: pino.DestinationStream;
}): Logger {
  return pino(
    {
      name: options.name ?? 'gateway',
      level: options.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      // The trace id of the message a bus handler works on (trace-scope.ts); HTTP request lines get
      // theirs from the request's child logger (http/server.ts).
      mixin: traceFields,
      redact: {
        paths: ['*.privateKey', '*.key', '*.passphrase', '*.payload', '*.body', 'req.headers.authorization'],
        censor: '[redacted]',
      },
    },
    options.destination,
  );
}

export function forMessage(logger: Logger, messageId: string, extra: Record<string, unknown> = {}): Logger {
  return logger.child({ messageId, ...extra });
}
