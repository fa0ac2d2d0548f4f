/**
 * Programmatic hostile payloads for the corpus, derived from the adapters' own valid fixtures: each
 * generator only yields inputs that are broken for a reason it can name (a truncation inside the
 * syntax, a record cut short, a byte the charset does not have), so that the expected refusal is
 * known without asking the decoder.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../../gateway/config/load.ts';

export const fixture = (adapter: string, file: string): Buffer =>
  readFileSync(path.join(REPO_ROOT, 'adapters', adapter, 'fixtures', file));

/** `count` positions spread over [from, to), deterministic. */
export function spread(from: number, to: number, count: number): number[] {
  const out = new Set<number>();
  for (let i = 0; i < count; i++) out.add(from + Math.floor(((to - from) * (i + 0.5)) / count));
  return [...out];
}

/** Prefixes of a JSON document that are not JSON (every proper prefix of an object is not). */
export function truncatedJson(text: string, count: number): { at: number; body: string }[] {
  const end = text.trimEnd().length - 1; // cutting only trailing whitespace would leave valid JSON
  return spread(1, end, count).map((at) => ({ at, body: text.slice(0, at) }));
}

/** Prefixes of an XML document cut inside its root element (never well-formed). */
export function truncatedXml(text: string, count: number): { at: number; body: string }[] {
  const rootStart = text.indexOf('<', text.startsWith('<?xml') ? text.indexOf('?>') : 0);
  const end = text.trimEnd().length - 1;
  return spread(rootStart + 1, end, count).map((at) => ({ at, body: text.slice(0, at) }));
}

/** Byte sequences that are not UTF-8, each for its own reason. */
export const INVALID_UTF8: { name: string; bytes: number[] }[] = [
  { name: 'lone continuation byte 0x80', bytes: [0x80] },
  { name: 'byte 0xff', bytes: [0xff] },
  { name: 'byte 0xfe', bytes: [0xfe] },
  { name: 'truncated 2-byte sequence', bytes: [0xc3] },
  { name: 'truncated 3-byte sequence', bytes: [0xe2, 0x82] },
  { name: 'overlong slash 0xc0 0xaf', bytes: [0xc0, 0xaf] },
  { name: 'overlong NUL 0xe0 0x80 0x80', bytes: [0xe0, 0x80, 0x80] },
  { name: 'UTF-16 surrogate 0xed 0xa0 0x80', bytes: [0xed, 0xa0, 0x80] },
  { name: 'beyond U+10FFFF 0xf4 0x90 0x80 0x80', bytes: [0xf4, 0x90, 0x80, 0x80] },
  { name: '5-byte form 0xf8 0x88 0x80 0x80 0x80', bytes: [0xf8, 0x88, 0x80, 0x80, 0x80] },
  { name: 'Latin-1 ü (0xfc) as one byte', bytes: [0xfc] },
];

/** `text` with `bytes` spliced in right after the first occurrence of `after`. */
export function spliceBytes(text: string, after: string, bytes: number[]): Buffer {
  const found = text.indexOf(after);
  if (found < 0) throw new Error(`spliceBytes: ${after} is not in the text`);
  const at = found + after.length;
  return Buffer.concat([
    Buffer.from(text.slice(0, at), 'utf8'),
    Buffer.from(bytes),
    Buffer.from(text.slice(at), 'utf8'),
  ]);
}

/** The same payload with a fresh value wherever `id` occurs (the gateway refuses replayed ids). */
export function withFreshId(text: string, id: string): string {
  return text.split(id).join(randomUUID());
}

/**
 * CSV lines cut after their k-th separator: the record then has fewer fields than the header,
 * which the format refuses naming the line.
 */
export function csvCutRecords(csv: string, separator: string, count: number): string[] {
  const lines = csv.split('\r\n').filter((l) => l.length > 0);
  const [header, ...records] = lines;
  const fields = header!.split(separator).length;
  const out: string[] = [];
  const cuts = spread(1, fields - 1, Math.ceil(count / records.length));
  for (const [r, record] of records.entries()) {
    for (const k of cuts) {
      const parts = record.split(separator);
      const cut = parts.slice(0, k).join(separator);
      out.push([header, ...records.slice(0, r), cut, ...records.slice(r + 1)].join('\r\n'));
      if (out.length === count) return out;
    }
  }
  return out;
}
