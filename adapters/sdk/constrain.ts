/**
 * Helpers for RoundTripSpec.constrain: turning a generated standard message into one a native
 * format can carry. Each returns a new message; none mutates its input.
 */
import type { XoevMessage } from '../../standards/catalogue.ts';
import { type Charset, unrepresentable } from './formats/charset.ts';
import { getPointer, setPointer } from './mapping/paths.ts';

function mapStrings(value: unknown, fn: (text: string) => string): unknown {
  if (typeof value === 'string') return fn(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, fn));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, fn)]));
  }
  return value;
}

/** Applies `fn` to every text of the message (codes, ids and dates too: keep `fn` a no-op on ASCII words). */
export function constrainTexts(message: XoevMessage, fn: (text: string) => string): XoevMessage {
  return mapStrings(message, fn) as XoevMessage;
}

/** Replaces every character `charset` cannot carry (and control characters) with `?`. */
export function fitCharset(text: string, charset: Charset): string {
  let out = '';
  for (const ch of text) out += unrepresentable(ch, charset) === undefined ? ch : '?';
  return out;
}

/**
 * Replaces the few single-byte sequences that are valid UTF-8 for legal text (Â Ã Å Æ Ë â followed
 * by a character of 0x80–0xBF): the strict reader takes a file made only of those for a UTF-8 export.
 */
export function avoidUtf8Lookalikes(text: string): string {
  return text.replace(/[ÂÃÅÆËâ](?=[\u00a0-\u00bf€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ])/g, '?');
}

/** Transforms the value at `pointer` if the message has one there. */
export function setAt<V>(message: XoevMessage, pointer: string, fn: (value: V) => unknown): XoevMessage {
  const value = getPointer(message, pointer);
  if (value === undefined) return message;
  const copy = structuredClone(message) as unknown as Record<string, unknown>;
  setPointer(copy, pointer, fn(value as V));
  return copy as unknown as XoevMessage;
}

/** Removes the value at `pointer` (a field the native format does not have). */
export function dropAt(message: XoevMessage, pointer: string): XoevMessage {
  const parts = pointer.split('/').slice(1);
  const copy = structuredClone(message) as unknown as Record<string, unknown>;
  let node: Record<string, unknown> | undefined = copy;
  for (const key of parts.slice(0, -1)) node = node?.[key] as Record<string, unknown> | undefined;
  if (node) delete node[parts.at(-1)!];
  return copy as unknown as XoevMessage;
}

/** Cuts a text to `length` characters (code points), trimming what the cut leaves at the end. */
export function clip(text: string, length: number): string {
  return [...text].slice(0, length).join('').trim();
}

function isCoded(value: unknown): value is { listURI: string; name?: string } {
  return !!value && typeof value === 'object' && 'listURI' in value && 'code' in value;
}

function stripNames(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripNames);
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([k]) => !(k === 'name' && isCoded(value)))
      .map(([k, v]) => [k, stripNames(v)]);
    return Object.fromEntries(entries);
  }
  return value;
}

/** Removes the optional `name` of every coded value: native formats carry the code only. */
export function withoutCodeNames(message: XoevMessage): XoevMessage {
  return stripNames(message) as XoevMessage;
}

/** What every adapter built on the Mapper cannot carry, in words (for RoundTripSpec.constraints). */
export const MAPPER_CONSTRAINTS = [
  'texts carry no leading or trailing white space (the Mapper trims every value)',
  'texts contain no U+FFFD (the Mapper refuses it as a character lost to a wrong encoding)',
  'coded values carry the code only, not its name',
];

/** Applies MAPPER_CONSTRAINTS: trims every text, replaces U+FFFD with `?`, drops code names. */
export function mapperConstraints(message: XoevMessage): XoevMessage {
  return constrainTexts(withoutCodeNames(message), (t) => t.replaceAll('\uFFFD', '?').trim());
}
