/**
 * The trace of the message being worked on, for log lines written anywhere below a bus handler
 * (delivery, archiving, receipts) without passing a logger or a trace id through every call: the
 * delivery worker runs each record's handler inside `inTraceOf(traceparent, …)`, and the logger's
 * mixin (logger.ts) adds `traceId` to every line written in that async scope.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { traceIdOf } from '../observability/trace-context.ts';

const scope = new AsyncLocalStorage<{ traceId: string }>();

/** Runs `work` with the trace of `traceparent` in scope (or as it is, when there is no valid one). */
export function inTraceOf<T>(traceparent: string | undefined, work: () => T): T {
  const traceId = traceIdOf(traceparent);
  return traceId ? scope.run({ traceId }, work) : work();
}

/**
 * The fields the logger adds to each line: `{ traceId }` inside a trace scope, else nothing. A new
 * object each time: pino merges the line's own fields into what the mixin returns.
 */
export function traceFields(): { traceId?: string } {
  const store = scope.getStore();
  return store ? { traceId: store.traceId } : {};
}
