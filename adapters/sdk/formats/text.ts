import { GatewayError } from '../../../gateway/errors/catalogue.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes UTF-8 strictly: invalid byte sequences are an error, never U+FFFD in a register entry. */
export function decodeUtf8(body: Buffer): string {
  try {
    const text = utf8.decode(body);
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } catch {
    throw new GatewayError('GW_ERR_MALFORMED_PAYLOAD', 'the payload is not valid UTF-8');
  }
}
