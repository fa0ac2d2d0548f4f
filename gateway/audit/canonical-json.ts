/**
 * RFC 8785 (JCS) canonical JSON, dependency-free so that the same bytes can be produced in a browser
 * (the console verifies proofs there) and in the gateway. hash-chain.ts defines what is hashed with it.
 */

/** RFC 8785 canonical JSON of a JSON value. Throws TypeError on anything that is not plain JSON. */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return quoteJson(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON: non-finite number ${value}`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          out += canonicalJson(value[i]);
        }
        return `${out}]`;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new TypeError(`canonical JSON: not a plain object (${proto?.constructor?.name ?? 'unknown'})`);
      }
      const record = value as Record<string, unknown>;
      const keys = sortedKeys(record);
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        if (i > 0) out += ',';
        out += `${quoteJson(key)}:${canonicalJson(record[key])}`;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`canonical JSON: ${typeof value} is not a JSON value`);
  }
}

/** Objects up to this many members are sorted by insertion (no comparator calls; audit details have a handful). */
const INSERTION_SORT_MAX = 16;

/**
 * The keys in RFC 8785 order: by UTF-16 code units, which is both what `<` compares on strings and
 * what Array.prototype.sort does without a comparator.
 */
function sortedKeys(record: Record<string, unknown>): string[] {
  const keys = Object.keys(record);
  if (keys.length > INSERTION_SORT_MAX) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > key) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = key;
  }
  return keys;
}

/**
 * A string JSON.stringify would not just wrap in quotes: one with `"`, `\`, a control character or
 * a surrogate (code units: a well-formed pair matches too, and JSON.stringify then writes it as is).
 * One native scan instead of a loop over the characters.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what it looks for
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;

/**
 * A JSON string literal exactly as JSON.stringify writes it. Fast path: strings without `"`, `\`,
 * control characters or surrogates (almost all of them) are only wrapped in quotes.
 */
export function quoteJson(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}
