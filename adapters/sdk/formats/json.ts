import { GatewayError } from '../../../gateway/errors/catalogue.ts';
import type { NativeFormat, NativeTree } from './native-format.ts';
import { decodeUtf8 } from './text.ts';

/** Parses a UTF-8 JSON payload; syntax errors become GW_ERR_MALFORMED_PAYLOAD with the parser's position. */
export function parseJson(body: Buffer): unknown {
  const text = decodeUtf8(body);
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
