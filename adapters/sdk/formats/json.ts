import { GatewayError } from '../../../gateway/errors/catalogue.ts';
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
