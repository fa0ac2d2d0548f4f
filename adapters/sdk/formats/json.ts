import { GatewayError } from '../../../gateway/errors/catalogue.ts';
import type { NativeFormat, NativeTree } from './native-format.ts';
import { decodeUtf8 } from './text.ts';

/**
 * Deeper than any native payload needs (the deepest adapter mapping is 4 levels). Mapping, hooks and
 * diagnostics walk trees recursively; a 10,000-deep array hidden in a field nobody maps would
 * otherwise be parsed, carried and walked on every request.
 */
export const MAX_JSON_DEPTH = 64;

/** One linear scan over the text, outside strings: refuses nesting deeper than `max`. */
function checkJsonDepth(text: string, max: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* backslash: skip the escaped character */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > max) {
        throw new GatewayError(
          'GW_ERR_MALFORMED_PAYLOAD',
          `JSON nesting deeper than ${max} levels at offset ${i}`,
        );
      }
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) depth--;
  }
}

/**
 * Whether `text` has more than `max` opening brackets at all, in strings or not. Nesting can only
 * be deeper than the brackets there are, so a payload with few (every real one) needs no scan by
 * character: indexOf jumps from bracket to bracket in native code.
 */
function hasMoreBracketsThan(text: string, max: number): boolean {
  let count = 0;
  for (let i = text.indexOf('{'); i >= 0; i = text.indexOf('{', i + 1)) if (++count > max) return true;
  for (let i = text.indexOf('['); i >= 0; i = text.indexOf('[', i + 1)) if (++count > max) return true;
  return false;
}

/** Parses a UTF-8 JSON payload; syntax errors become GW_ERR_MALFORMED_PAYLOAD with the parser's position. */
export function parseJson(body: Buffer): unknown {
  const text = decodeUtf8(body);
  if (hasMoreBracketsThan(text, MAX_JSON_DEPTH)) checkJsonDepth(text, MAX_JSON_DEPTH);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new GatewayError('GW_ERR_MALFORMED_PAYLOAD', `invalid JSON: ${(error as Error).message}`);
  }
}

export function encodeJson(value: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(value, null, 2)}\n`, 'utf8');
}

/** `person.vornamen[1]` → `$.person.vornamen[1]`. */
export function jsonField(path: string): string {
  return path ? `$.${path}` : '$';
}

/** One JSON object per request and per delivery. */
export function jsonFormat(): NativeFormat {
  return {
    describe: 'JSON (UTF-8), one object per message',
    contentTypes: ['application/json'],
    charset: 'utf-8',
    read(body) {
      const doc = parseJson(body);
      if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
        throw new GatewayError('GW_ERR_MAPPING_FAILED', 'the payload must be a JSON object', {
          errors: [{ pointer: '', nativeField: '$', detail: 'must be a JSON object' }],
        });
      }
      return [{ tree: doc as NativeTree, ref: '$', nativeName: jsonField }];
    },
    write(trees) {
      return { contentType: 'application/json', body: encodeJson(trees.length === 1 ? trees[0] : trees) };
    },
    outputName: jsonField,
  };
}
