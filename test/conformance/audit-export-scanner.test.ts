/**
 * The offline verifier's fast path (export-line-scanner.ts) reads link fields out of entry lines by
 * delimiters instead of parsing them. Proved here: for any entry — hostile strings in every field
 * (quotes, backslashes, the delimiters themselves, non-ASCII, control characters), a detail object
 * holding members named like the top-level ones — it either finds exactly what JSON.parse finds and
 * the exact hashed bytes, or declines (and the slow path parses the line).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { entryLine } from '../../gateway/audit/export.ts';
import { newScannedEntry, scanEntryLine } from '../../gateway/audit/export-line-scanner.ts';
import { canonicalEntryString, chainEntry, GENESIS_HASH } from '../../gateway/audit/hash-chain.ts';
import { AUDIT_EVENT_KINDS, type AuditEntry } from '../../gateway/ports/audit-store.ts';
import { bareAuditEvent } from '../support/audit-events.ts';

const scanned = newScannedEntry;

/** Strings built from the pieces most likely to confuse a delimiter scanner. */
const tricky = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc
    .array(
      fc.constantFrom(
        '"',
        '\\',
        ',"seq":',
        '","chain":"',
        ',"prevHash":"',
        ',"time":"',
        '"}}',
        '\n',
        '\r',
        '\u2028',
        'ä',
        '1',
        '{',
        '}',
      ),
    )
    .map((parts) => parts.join('')),
);
const nullable = fc.option(tricky, { nil: null });
const detail = fc.dictionary(
  fc.oneof(tricky, fc.constantFrom('prevHash', 'seq', 'time', 'chain', 'detail')),
  fc.jsonValue({ maxDepth: 3 }),
);

const entryArbitrary = fc
  .record({
    chain: fc.oneof(fc.constantFrom('main', 'side', 'kafka/audit/0'), tricky),
    seq: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.constant(Number.MAX_SAFE_INTEGER)),
    time: fc.oneof(
      fc
        .date({ min: new Date(0), max: new Date(Date.UTC(9999, 0)), noInvalidDate: true })
        .map((d) => d.toISOString()),
      tricky,
    ),
    kind: fc.constantFrom(...AUDIT_EVENT_KINDS),
    actor: tricky,
    messageId: nullable,
    sender: nullable,
    receiver: nullable,
    senderSystem: nullable,
    receiverSystem: nullable,
    messageType: nullable,
    digest: nullable,
    detail,
  })
  .map(
    (e): AuditEntry =>
      chainEntry({ ...e, detail: JSON.parse(JSON.stringify(e.detail)) }, e.chain, {
        seq: e.seq - 1,
        hash: e.seq === 1 ? GENESIS_HASH : 'ab'.repeat(32),
      }),
  );

describe('export line scanner', () => {
  it('finds exactly what JSON.parse finds, or declines', () => {
    let fast = 0;
    fc.assert(
      fc.property(entryArbitrary, fc.boolean(), (entry, crlf) => {
        const line = entryLine(entry).replace(/\n$/, crlf ? '\r\n' : '\n');
        const bytes = Buffer.from(`garbage before\n${line}after`);
        const start = bytes.indexOf('\n') + 1;
        const out = scanned();
        if (!scanEntryLine(bytes, start, bytes.length, out)) return;
        fast++;
        const parsed = JSON.parse(line) as { hash: string; entry: AuditEntry };
        expect(bytes.toString('utf8', out.chainStart, out.chainEnd)).toBe(parsed.entry.chain);
        expect(out.seq).toBe(parsed.entry.seq);
        expect(bytes.toString('utf8', out.prevHashAt, out.prevHashAt + 64)).toBe(parsed.entry.prevHash);
        expect(bytes.toString('utf8', out.claimedAt, out.claimedAt + 64)).toBe(parsed.hash);
        expect(bytes.toString('utf8', out.canonicalStart, out.canonicalEnd)).toBe(
          canonicalEntryString(parsed.entry),
        );
        expect(bytes.toString('utf8', out.next)).toBe('after');
      }),
      { numRuns: 2000 },
    );
    // About half the times are well-formed ISO times: the fast path must take a good share of lines.
    expect(fast).toBeGreaterThan(300);
  });

  it('declines incomplete lines, other key orders and escapes in the chain name', () => {
    const entry = chainEntry(
      bareAuditEvent({
        time: '2025-01-01T00:00:00.000Z',
        kind: 'received',
        actor: 'gateway',
        messageId: 'm1',
        detail: { prevHash: 'x', seq: 2 },
      }),
      'main',
      { seq: 0, hash: GENESIS_HASH },
    );
    const line = entryLine(entry);
    const scan = (text: string) => {
      const b = Buffer.from(text);
      return scanEntryLine(b, 0, b.length, scanned());
    };
    expect(scan(line)).toBe(true);
    expect(scan(line.slice(0, -1))).toBe(false);
    expect(scan(line.slice(0, 80))).toBe(false);
    expect(scan(`${JSON.stringify(JSON.parse(line), null, 1).replace(/\n/g, ' ')}\n`)).toBe(false);
    expect(scan(line.replace('"chain":"main"', '"chain":"ma\\u0069n"'))).toBe(false);
    expect(scan(line.replace('"seq":1', '"seq":01'))).toBe(false);
    expect(scan(line.replace('.000Z', '.0Z'))).toBe(false);
  });
});
