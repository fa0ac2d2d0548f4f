/**
 * The offline verifier's hot path: reads an entry line exactly as export.ts writes it,
 *
 *   {"type":"entry","hash":"<64 hex>","entry":<canonical entry JSON, hash-chain.ts>}\n
 *
 * straight from the bytes of the export, without decoding or parsing it, touching as few bytes as
 * it can (the hash reads them all anyway): the line's end is found natively (memchr), the chain name
 * from the front and prevHash, seq and time from the back, using the JCS member order of
 * hash-chain.ts. Anything else — another key order, whitespace, escapes in a chain name, a time not
 * in the 24-character form — is not scanned, and the caller takes the slow path (JSON.parse,
 * re-canonicalise): the verdict is the same, only slower.
 *
 * Why the delimiters found are the real members: each searched delimiter (`","chain":"`,
 * `","detail":`, `,"prevHash":"`, `,"seq":`, `,"time":"`) contains a quote right after a `,` or `:`,
 * which never occurs inside a JSON string (a quote in a string is escaped as `\"`). After `detail`
 * every member is a string, null or a number, so the last `,"prevHash":"` of the line is the
 * top-level one even if `detail` holds a member of that name. The detail object itself is not
 * examined: it is hashed, and the hash is what is checked.
 */

/** Where the parts of a scanned entry line are, as offsets into the scanned buffer. */
export interface ScannedEntry {
  /** The 64 bytes of the claimed hash. */
  claimedAt: number;
  /** The canonical entry (the hashed bytes): [canonicalStart, canonicalEnd). */
  canonicalStart: number;
  canonicalEnd: number;
  /** The chain name's bytes (no escapes in it): [chainStart, chainEnd). */
  chainStart: number;
  chainEnd: number;
  /** The 64 bytes of prevHash (not checked to be hex: it is compared with a hash). */
  prevHashAt: number;
  seq: number;
  /** Offset right after the line's \n. */
  next: number;
}

/** A ScannedEntry to fill (one per reader, reused for every line: no object per line). */
export function newScannedEntry(): ScannedEntry {
  return {
    claimedAt: 0,
    canonicalStart: 0,
    canonicalEnd: 0,
    chainStart: 0,
    chainEnd: 0,
    prevHashAt: 0,
    seq: 0,
    next: 0,
  };
}

const bytes = (s: string) => Buffer.from(s, 'latin1');
const LINE_PREFIX = bytes('{"type":"entry","hash":"');
const LINE_INFIX = bytes('","entry":{"actor":"');
const CHAIN = bytes('","chain":"');
const DETAIL = bytes('","detail":{');
const PREV_HASH = bytes(',"prevHash":"');
const SEQ = bytes(',"seq":');
const TIME_END = bytes(',"time":"0000-00-00T00:00:00.000Z"}}');
/** Offsets of the digits in TIME_END's time, which may be any digit. */
const TIME_DIGIT = TIME_END.map((c) => (c === 0x30 ? 1 : 0));

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;

/** Offset after `literal` if it stands at `at`, else -1. */
function expect(b: Uint8Array, at: number, limit: number, literal: Uint8Array): number {
  const n = literal.length;
  if (at + n > limit) return -1;
  for (let i = 0; i < n; i++) if (b[at + i] !== literal[i]) return -1;
  return at + n;
}

/** Offset of the quote that ends the string starting at `at` (before `limit`), else -1. */
function stringEnd(b: Uint8Array, at: number, limit: number, escapesAllowed: boolean): number {
  for (let p = at; p < limit; p++) {
    const c = b[p]!;
    if (c === QUOTE) return p;
    if (c < 0x20) return -1;
    if (c === BACKSLASH) {
      if (!escapesAllowed) return -1;
      p++;
    }
  }
  return -1;
}

/**
 * Scans the line starting at `start` (data up to `limit`). True, with `out` filled in, if it is a
 * canonical entry line ending in \n or \r\n; false for anything else, including a line not complete
 * before `limit` (the caller then finds the line's end itself and takes the slow path).
 */
export function scanEntryLine(b: Buffer, start: number, limit: number, out: ScannedEntry): boolean {
  const nl = b.indexOf(NEWLINE, start);
  if (nl < 0 || nl >= limit) return false;
  const end = nl > start && b[nl - 1] === CR ? nl - 1 : nl;
  // Back to front: the time (fixed form), seq, prevHash.
  const timeAt = end - TIME_END.length;
  if (timeAt < start) return false;
  for (let i = 0; i < TIME_END.length; i++) {
    const c = b[timeAt + i]!;
    if (TIME_DIGIT[i] ? c < 0x30 || c > 0x39 : c !== TIME_END[i]) return false;
  }
  let p = timeAt - 1;
  let seq = 0;
  let scale = 1;
  while (p > start) {
    const d = b[p]! - 0x30;
    if (d < 0 || d > 9) break;
    seq += d * scale;
    scale *= 10;
    p--;
  }
  const digits = timeAt - 1 - p;
  // A safe integer without a leading zero: at most 15 digits keeps it below 2^53.
  if (digits < 1 || digits > 15 || b[p + 1] === 0x30 || b[p] !== COLON) return false;
  const seqAt = p + 1 - SEQ.length;
  if (expect(b, seqAt, end, SEQ) < 0) return false;
  const prevKeyAt = b.lastIndexOf(PREV_HASH, seqAt);
  if (prevKeyAt < 0 || b[prevKeyAt + PREV_HASH.length + 64] !== QUOTE) return false;
  // Front to back: the line's prefix, the claimed hash, actor and chain, the start of detail.
  p = expect(b, start, end, LINE_PREFIX);
  if (p < 0) return false;
  const claimedAt = p;
  p = expect(b, p + 64, end, LINE_INFIX);
  if (p < 0) return false;
  const canonicalStart = p - 10;
  p = expect(b, stringEnd(b, p, end, true), end, CHAIN);
  if (p < 0) return false;
  const chainStart = p;
  const chainEnd = stringEnd(b, p, end, false);
  if (chainEnd < 0 || expect(b, chainEnd, end, DETAIL) < 0 || prevKeyAt < chainEnd) return false;
  out.claimedAt = claimedAt;
  out.canonicalStart = canonicalStart;
  out.canonicalEnd = end - 1;
  out.chainStart = chainStart;
  out.chainEnd = chainEnd;
  out.prevHashAt = prevKeyAt + PREV_HASH.length;
  out.seq = seq;
  out.next = nl + 1;
  return true;
}
