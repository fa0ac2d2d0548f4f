/**
 * The shortcuts of the per-event audit path must not change a byte or let anything through:
 * canonical JSON sorts small objects by insertion and tests strings for escapes with one regular
 * expression; the time check of normalizeEventInput remembers the last time it accepted (the events
 * of one append share it); the AuditLog formats its clock once per millisecond.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bareAuditEvent } from '../../test/support/audit-events.ts';
import type { AuditEntry, AuditEventInput, AuditStore } from '../ports/audit-store.ts';
import { AuditLog } from './audit-log.ts';
import { canonicalJson, quoteJson } from './canonical-json.ts';
import { normalizeEventInput } from './hash-chain.ts';

const TIME_ERROR = /time must be ISO 8601 UTC with milliseconds/;

/** Any UTF-16 code unit, lone surrogates and control characters included. */
const utf16 = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) });

describe('canonical JSON', () => {
  it('quotes every string as JSON.stringify does', () => {
    for (const s of [
      '',
      'plain',
      '"',
      '\\',
      '\u0000',
      '\u001f',
      '\u007f',
      '\u2028',
      '\ud800',
      '\udfff',
      'a\ud83d\ude00b',
      '\ude00\ud83d',
    ]) {
      expect(quoteJson(s)).toBe(JSON.stringify(s));
    }
    fc.assert(
      fc.property(utf16, (s) => {
        expect(quoteJson(s)).toBe(JSON.stringify(s));
      }),
      { numRuns: 500 },
    );
  });

  it('orders members by UTF-16 code units, at every size', () => {
    const reference = (record: Record<string, string>) =>
      `{${Object.keys(record)
        .sort()
        .map((k) => `${JSON.stringify(k)}:${JSON.stringify(record[k])}`)
        .join(',')}}`;
    // Up to 40 members: both the insertion sort (small objects) and Array.prototype.sort (larger).
    const records = fc.dictionary(fc.oneof(utf16, fc.nat().map(String)), utf16, { maxKeys: 40 });
    fc.assert(
      fc.property(records, (record) => {
        expect(canonicalJson(record)).toBe(reference(record));
      }),
      { numRuns: 500 },
    );
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 0, y: 1 }], c: null }, '10': 2, '9': 3, é: 4, Z: 5 })).toBe(
      '{"10":2,"9":3,"Z":5,"a":{"c":null,"d":[3,{"y":1,"z":0}]},"b":1,"é":4}',
    );
  });
});

describe('normalizeEventInput time check', () => {
  it('refuses a malformed time whatever was accepted before it', () => {
    const valid = '2026-11-29T14:00:00.123Z';
    for (const time of ['', null, undefined, 0, '1970-01-01T00:00:00Z', '2026-02-30T25:00:00.000Z']) {
      expect(() => normalizeEventInput(bareAuditEvent({ time: time as string }))).toThrow(TIME_ERROR);
      expect(normalizeEventInput(bareAuditEvent({ time: valid })).event.time).toBe(valid);
      expect(() => normalizeEventInput(bareAuditEvent({ time: time as string }))).toThrow(TIME_ERROR);
      // A near miss of the remembered time.
      expect(() => normalizeEventInput(bareAuditEvent({ time: `${valid} ` }))).toThrow(TIME_ERROR);
    }
  });

  it('accepts the first valid time of the process and repeats of it', () => {
    for (const time of ['1970-01-01T00:00:00.000Z', '1970-01-01T00:00:00.000Z', '2030-01-01T00:00:00.000Z']) {
      expect(normalizeEventInput(bareAuditEvent({ time })).event.time).toBe(time);
    }
  });
});

/** A store that keeps what it was given; the log's completion is what is tested. */
function capturingStore(): AuditStore & { appended: AuditEventInput[] } {
  const appended: AuditEventInput[] = [];
  return {
    kind: 'capture',
    appended,
    async append(events: AuditEventInput[]) {
      appended.push(...events);
      return events.map(
        (e, i) => ({ ...e, chain: 'main', seq: i + 1, prevHash: '', hash: '' }) as AuditEntry,
      );
    },
  } as unknown as AuditStore & { appended: AuditEventInput[] };
}

describe('AuditLog time', () => {
  it('stamps the system clock, in ISO form with milliseconds, never before the call', async () => {
    const store = capturingStore();
    const log = new AuditLog(store);
    for (let i = 0; i < 50; i++) {
      const before = Date.now();
      await log.recordMany([
        { kind: 'received', actor: 'a' },
        { kind: 'accepted', actor: 'a' },
      ]);
      const after = Date.now();
      for (const event of store.appended.splice(0)) {
        expect(event.time).toBe(new Date(Date.parse(event.time)).toISOString());
        expect(Date.parse(event.time)).toBeGreaterThanOrEqual(before);
        expect(Date.parse(event.time)).toBeLessThanOrEqual(after);
      }
    }
  });

  it('asks a given clock for every event, also on another chain', async () => {
    const store = capturingStore();
    let tick = 0;
    const log = new AuditLog(store, { now: () => new Date(Date.UTC(2026, 0, 1, 0, 0, 0, tick++)) });
    await log.withChain('delivery.x.0').recordMany([
      { kind: 'delivered', actor: 'a' },
      { kind: 'acknowledged', actor: 'a', idempotencyKey: 'k' },
    ]);
    expect(store.appended.map((e) => e.time)).toEqual([
      '2026-01-01T00:00:00.000Z',
      '2026-01-01T00:00:00.001Z',
    ]);
    expect(store.appended.map((e) => e.idempotencyKey)).toEqual([undefined, 'k']);
  });
});
