/** W3C traceparent/tracestate parsing and the gateway's own spans (trace-context.ts). */
import { describe, expect, it } from 'vitest';
import {
  continueOrStartTrace,
  newSpanId,
  newTraceId,
  outgoingTraceHeaders,
  parseTraceparent,
  traceIdOf,
} from './trace-context.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const VALID = `00-${TRACE}-00f067aa0ba902b7-01`;

describe('trace context', () => {
  it('parses valid traceparents, including a future version with extra fields', () => {
    expect(parseTraceparent(VALID)).toEqual({ traceId: TRACE, parentId: '00f067aa0ba902b7', flags: '01' });
    expect(parseTraceparent(`cc-${TRACE}-00f067aa0ba902b7-09-what-the-future-holds`)?.traceId).toBe(TRACE);
  });

  it('refuses malformed ones', () => {
    for (const bad of [
      undefined,
      '',
      VALID.toUpperCase(),
      `ff-${TRACE}-00f067aa0ba902b7-01`,
      `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `00-${TRACE}-00f067aa0ba902b7-01-extra`,
      `00-${TRACE}-00f067aa0ba902b-01`,
      ` ${VALID}`,
      `00_${TRACE}_00f067aa0ba902b7_01`,
    ]) {
      expect(parseTraceparent(bad), String(bad)).toBeNull();
    }
  });

  it('continues a valid trace with a new span and keeps only the sampled flag', () => {
    const a = continueOrStartTrace(
      `00-${TRACE}-00f067aa0ba902b7-03`,
      'congo=t61rcWkgMzE, rojo=00f067aa0ba902b7',
    );
    expect(a.traceId).toBe(TRACE);
    expect(a.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(a.spanId).not.toBe('00f067aa0ba902b7');
    expect(a.traceparent).toBe(`00-${TRACE}-${a.spanId}-01`);
    expect(a.tracestate).toBe('congo=t61rcWkgMzE,rojo=00f067aa0ba902b7');
    expect(continueOrStartTrace(`00-${TRACE}-00f067aa0ba902b7-00`).flags).toBe('00');
  });

  it('starts a new trace for a missing, repeated or invalid header and drops its tracestate', () => {
    for (const header of [undefined, 'nonsense', [VALID, VALID]]) {
      const t = continueOrStartTrace(header, 'congo=t61rcWkgMzE');
      expect(t.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(t.traceId).not.toBe(TRACE);
      expect(t.tracestate).toBeUndefined();
      expect(parseTraceparent(t.traceparent)).not.toBeNull();
    }
  });

  it('drops a malformed tracestate but keeps the trace', () => {
    for (const state of ['UPPER=x', 'a=b=c', 'x', `${'k'.repeat(300)}=v`, 'a=b,'.repeat(40)]) {
      const t = continueOrStartTrace(VALID, state);
      expect(t.traceId).toBe(TRACE);
      expect(t.tracestate, state).toBeUndefined();
    }
  });

  it('makes fresh, non-zero ids and outgoing headers on the same trace', () => {
    const ids = new Set(Array.from({ length: 2000 }, newSpanId));
    expect(ids.size).toBe(2000);
    expect(newTraceId()).toMatch(/^(?!0+$)[0-9a-f]{32}$/);
    const out = outgoingTraceHeaders(VALID).traceparent;
    expect(traceIdOf(out)).toBe(TRACE);
    expect(out).not.toBe(VALID);
    expect(traceIdOf(outgoingTraceHeaders(undefined).traceparent)).toMatch(/^[0-9a-f]{32}$/);
  });
});
