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
      const keys = Object.keys(record).sort();
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

/**
 * A JSON string literal exactly as JSON.stringify writes it. Fast path: strings without `"`, `\`,
 * control characters or surrogates (almost all of them) are only wrapped in quotes.
 */
export function quoteJson(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return `"${s}"`;
}
