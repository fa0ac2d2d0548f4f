/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/), the format OpenTelemetry propagates,
 * implemented here in a few lines instead of pulling in the OpenTelemetry SDK: the gateway emits no
 * spans to a collector, it keeps the caller's trace id on everything it does for a message (logs,
 * bus headers, the push request) so that a collector-side view joins up.
 *
 * - At ingress the caller's `traceparent` is parsed strictly; a missing or invalid one is replaced
 *   by a new trace (an invalid header is not trusted, not repaired). The gateway then acts as one
 *   span of its own: the traceparent it passes on carries the same trace id and a new span id.
 * - `tracestate` is kept only alongside a valid traceparent and only if it is well-formed.
 * - At delivery the push request gets the same trace id with another new span id (the delivery
 *   span), so the receiver sees the gateway as its parent.
 */
import { randomFillSync } from 'node:crypto';

export interface TraceContext {
  traceId: string;
  /** This hop's span id: the parent id for whatever this hop calls next. */
  spanId: string;
  flags: string;
  /** The `traceparent` to pass on: version 00, this trace, this span. */
  traceparent: string;
  tracestate?: string;
}

// version-traceid-parentid-flags; a future version may append fields after another dash.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ALL_ZERO = /^0+$/;
// list-member = key "=" value, at most 32 members, 512 characters (the spec's limits).
const TRACESTATE_MEMBER =
  /^(?:[a-z][_0-9a-z\-*/]{0,255}|[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13})=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/** Random ids from one pooled buffer: cheaper than randomBytes per request. */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;
function randomHex(bytes: number): string {
  if (poolOffset + bytes > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const hex = pool.toString('hex', poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  // An all-zero id is invalid; astronomically unlikely, but cheap to rule out.
  return ALL_ZERO.test(hex) ? randomHex(bytes) : hex;
}

export const newTraceId = (): string => randomHex(16);
export const newSpanId = (): string => randomHex(8);

export function parseTraceparent(
  value: string | undefined,
): { traceId: string; parentId: string; flags: string } | null {
  if (value === undefined || value.length < 55 || value.length > 512) return null;
  const m = TRACEPARENT.exec(value);
  if (!m) return null;
  const [, version, traceId, parentId, flags, rest] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string?,
  ];
  if (version === 'ff') return null;
  if (version === '00' && rest !== undefined) return null;
  if (ALL_ZERO.test(traceId) || ALL_ZERO.test(parentId)) return null;
  return { traceId, parentId, flags };
}

function validTracestate(value: string | undefined): string | undefined {
  if (value === undefined || value.length === 0 || value.length > 512) return undefined;
  const members = value
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m.length > 0);
  if (members.length === 0 || members.length > 32) return undefined;
  return members.every((m) => TRACESTATE_MEMBER.test(m)) ? members.join(',') : undefined;
}

function context(traceId: string, flags: string, tracestate?: string): TraceContext {
  const spanId = newSpanId();
  return {
    traceId,
    spanId,
    flags,
    traceparent: `00-${traceId}-${spanId}-${flags}`,
    ...(tracestate ? { tracestate } : {}),
  };
}

/** The gateway's span for an incoming request: continues a valid caller trace, else starts one. */
export function continueOrStartTrace(
  traceparent: string | string[] | undefined,
  tracestate?: string | string[] | undefined,
): TraceContext {
  const parent = typeof traceparent === 'string' ? parseTraceparent(traceparent) : null;
  if (!parent) return context(newTraceId(), '01');
  // Only the sampled bit is defined; other bits are not passed on (the spec's advice for version 00).
  const flags = (Number.parseInt(parent.flags, 16) & 1) === 1 ? '01' : '00';
  const state = Array.isArray(tracestate) ? tracestate.join(',') : tracestate;
  return context(parent.traceId, flags, validTracestate(state));
}

/** The trace id of a traceparent (as the gateway wrote it into bus headers), for log lines. */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  return parseTraceparent(traceparent)?.traceId;
}

/**
 * Headers for an outgoing request made for a message (the push): the message's trace with a new
 * span id. A record without a valid traceparent (published before tracing) gets a new trace.
 */
export function outgoingTraceHeaders(
  traceparent: string | undefined,
  tracestate?: string,
): { traceparent: string; tracestate?: string } {
  const parent = parseTraceparent(traceparent);
  if (!parent) return { traceparent: `00-${newTraceId()}-${newSpanId()}-01` };
  // W3C: vendors' tracestate travels with the trace it belongs to, never with a fresh one.
  const state = validTracestate(tracestate);
  return {
    traceparent: `00-${parent.traceId}-${newSpanId()}-${parent.flags}`,
    ...(state ? { tracestate: state } : {}),
  };
}

/**
 * The trace context of a request as the server's hook left it (validated, see server.ts), for the
 * ingress stage to put into bus headers.
 */
export function traceOfRequest(headers: Record<string, string | string[] | undefined>): {
  traceparent?: string;
  tracestate?: string;
} {
  const { traceparent, tracestate } = headers;
  return {
    ...(typeof traceparent === 'string' ? { traceparent } : {}),
    ...(typeof tracestate === 'string' ? { tracestate } : {}),
  };
}
