/**
 * Hostile variants of valid inputs for the fuzzers: a decoder sees mostly almost-valid bytes (a
 * truncated, flipped, spliced or token-injected fixture), which reach far deeper into it than
 * random noise, plus some plain noise.
 */
import fc from 'fast-check';

/** Fragments that stress parsers: markup, entities, quoting, separators, encodings, controls. */
export const HOSTILE_TOKENS: readonly string[] = [
  '<',
  '>',
  '&',
  '&amp',
  '&#0;',
  '&#x110000;',
  '&#99999999999999999999;',
  '&lt;',
  '&undefined;',
  '"',
  "'",
  ';',
  ',',
  '\t',
  '|',
  '\r',
  '\n',
  '\r\n',
  '\u0000',
  '\u0085',
  '\u2028',
  '\uFEFF',
  '\uD800',
  ']]>',
  '<![CDATA[',
  '<!--',
  '-->',
  '<?pi x?>',
  '<!DOCTYPE x [<!ENTITY a "b">]>',
  '<!ENTITY e SYSTEM "file:///etc/passwd">',
  '</',
  '/>',
  '<a:b xmlns:a="urn:x">',
  'xmlns=""',
  '__proto__',
  'constructor',
  '{"__proto__":{"polluted":1}}',
  '[',
  ']',
  '{',
  '}',
  '\\u0000',
  '1e999999',
  '-0',
  'null',
  '9'.repeat(400),
];

const tokenBytes = fc.oneof(
  fc.constantFrom(...HOSTILE_TOKENS).map((t) => Buffer.from(t, 'utf8')),
  fc.constantFrom(...HOSTILE_TOKENS).map((t) => Buffer.from(t, 'latin1')),
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((a) => Buffer.from(a)),
  fc.constantFrom(
    Buffer.from([0xff]),
    Buffer.from([0xc3]),
    Buffer.from([0xe2, 0x82]),
    Buffer.from([0xed, 0xa0, 0x80]),
  ),
);

/** One mutation of `sample`, position-generic (positions are fractions of its length). */
export function mutated(sample: Buffer): fc.Arbitrary<Buffer> {
  const at = fc.double({ min: 0, max: 1, noNaN: true }).map((f) => Math.floor(f * sample.length));
  return fc.oneof(
    // truncation
    at.map((i) => sample.subarray(0, i)),
    // one byte replaced
    fc.tuple(at, fc.integer({ min: 0, max: 255 })).map(([i, b]) => {
      const copy = Buffer.from(sample);
      if (copy.length > 0) copy[Math.min(i, copy.length - 1)] = b;
      return copy;
    }),
    // a hostile token inserted
    fc.tuple(at, tokenBytes).map(([i, t]) => Buffer.concat([sample.subarray(0, i), t, sample.subarray(i)])),
    // a range deleted
    fc
      .tuple(at, at)
      .map(([i, j]) => Buffer.concat([sample.subarray(0, Math.min(i, j)), sample.subarray(Math.max(i, j))])),
    // a range duplicated (repeated elements, lines, fields)
    fc.tuple(at, at).map(([i, j]) => {
      const [a, b] = [Math.min(i, j), Math.max(i, j)];
      return Buffer.concat([sample.subarray(0, b), sample.subarray(a, b), sample.subarray(b)]);
    }),
    // several tokens at several places
    fc.array(fc.tuple(at, tokenBytes), { minLength: 2, maxLength: 6 }).map((edits) => {
      let out = sample;
      for (const [i, t] of edits.sort((x, y) => y[0] - x[0])) {
        out = Buffer.concat([out.subarray(0, i), t, out.subarray(i)]);
      }
      return out;
    }),
  );
}

/** Mutations of the samples, plus plain noise and noise made of tokens. */
export function hostileBytes(samples: readonly Buffer[]): fc.Arbitrary<Buffer> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...samples).chain(mutated) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a)) },
    { weight: 1, arbitrary: fc.array(tokenBytes, { maxLength: 40 }).map((parts) => Buffer.concat(parts)) },
    {
      weight: 1,
      arbitrary: fc.string({ unit: 'binary', maxLength: 256 }).map((s) => Buffer.from(s, 'utf8')),
    },
  );
}
