/**
 * The single-byte character sets of legacy Länder systems: Windows-1252 (Excel-era exports) and
 * ISO-8859-1 (mainframe and Unix batch files). Decoding is strict — a byte the charset does not
 * define, a control character, or text that is really UTF-8 is an error naming line and column —
 * because a wrongly decoded name ("MÃ¼ller") must never reach a register. Encoding refuses
 * characters the charset lacks instead of writing `?` for them.
 */
import iconv from 'iconv-lite';
import { GatewayError } from '../../../gateway/errors/catalogue.ts';
import { decodeUtf8 } from './text.ts';

export type Charset = 'utf-8' | 'windows-1252' | 'iso-8859-1';

/** Bytes Windows-1252 leaves undefined. */
const CP1252_UNDEFINED = new Set([0x81, 0x8d, 0x8f, 0x90, 0x9d]);

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** 1-based line and column of byte `offset` (in a single-byte charset a byte is a character). */
function position(body: Buffer, offset: number): string {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset; i++) {
    if (body[i] === 0x0a) {
      line++;
      start = i + 1;
    }
  }
  return `line ${line}, column ${offset - start + 1}`;
}

function encodingError(charset: Charset, where: string, detail: string): GatewayError {
  return new GatewayError('GW_ERR_MALFORMED_PAYLOAD', `${where}: ${detail}`, {
    errors: [{ pointer: '', nativeField: where, detail: `${detail} (expected ${charset})` }],
  });
}

/**
 * The offset of the first non-ASCII byte if the bytes are valid UTF-8 whose text the single-byte
 * charset could have held itself (`Ã¼` instead of `ü`): that is a file exported in UTF-8 where
 * Windows-1252 or ISO-8859-1 was agreed. -1 otherwise. Genuine single-byte text passes this test
 * only if its every non-ASCII letter is one of Â Ã Å Æ Ë â followed by a character of 0x80–0xBF —
 * German data does not look like that; the adapters' round-trip constraints say so.
 */
function looksLikeUtf8(body: Buffer, charset: Charset): number {
  const first = body.findIndex((b) => b >= 0x80);
  if (first < 0) return -1;
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return -1;
  }
  for (const ch of text) {
    if (ch.charCodeAt(0) >= 0x80 && unrepresentable(ch, charset) !== undefined) return -1;
  }
  return first;
}

/** Decodes `body` strictly in `charset`; errors name line and column. A UTF-8 BOM is dropped for UTF-8. */
export function decodeText(body: Buffer, charset: Charset): string {
  if (charset === 'utf-8') return decodeUtf8(body);
  const utf8At = looksLikeUtf8(body, charset);
  if (utf8At >= 0) {
    throw encodingError(
      charset,
      position(body, utf8At),
      `the payload is UTF-8, not ${charset} (a multi-byte UTF-8 sequence starts here)`,
    );
  }
  for (let i = 0; i < body.length; i++) {
    const b = body[i]!;
    if ((b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) || b === 0x7f) {
      throw encodingError(
        charset,
        position(body, i),
        `control character 0x${b.toString(16).padStart(2, '0')}`,
      );
    }
    if (charset === 'windows-1252' && CP1252_UNDEFINED.has(b)) {
      throw encodingError(
        charset,
        position(body, i),
        `byte 0x${b.toString(16)} is not defined in Windows-1252`,
      );
    }
    if (charset === 'iso-8859-1' && b >= 0x80 && b <= 0x9f) {
      throw encodingError(
        charset,
        position(body, i),
        `byte 0x${b.toString(16)} is a C1 control character in ISO-8859-1 (is the file Windows-1252?)`,
      );
    }
  }
  return charset === 'iso-8859-1' ? body.toString('latin1') : iconv.decode(body, 'win1252');
}

/** The first character of `text` that `charset` cannot represent, or undefined. */
export function unrepresentable(text: string, charset: Charset): string | undefined {
  if (charset === 'utf-8') return undefined;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) return ch;
    if (code < 0x7f || (code >= 0xa0 && code <= 0xff)) continue;
    if (charset === 'iso-8859-1') return ch;
    // Windows-1252 puts € ‚ ƒ „ … † ‡ ˆ ‰ Š ‹ Œ Ž ‘ ’ “ ” • – — ˜ ™ š › œ ž Ÿ where Latin-1 has C1 controls.
    const bytes = iconv.encode(ch, 'win1252');
    if (bytes.length !== 1 || bytes[0]! < 0x80 || bytes[0]! > 0x9f || CP1252_UNDEFINED.has(bytes[0]!)) {
      return ch;
    }
  }
  return undefined;
}

/** Encodes `text` in `charset`; throws if a character is not representable (never writes `?`). */
export function encodeText(text: string, charset: Charset): Buffer {
  if (charset === 'utf-8') return Buffer.from(text, 'utf8');
  const bad = unrepresentable(text, charset);
  if (bad !== undefined) {
    throw new GatewayError(
      'GW_ERR_MAPPING_FAILED',
      `U+${bad.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} cannot be written in ${charset}`,
    );
  }
  return charset === 'iso-8859-1' ? Buffer.from(text, 'latin1') : iconv.encode(text, 'win1252');
}

/** `text/csv; charset=windows-1252`: the media type with the charset a receiver needs to read the bytes. */
export function withCharset(mediaType: string, charset: Charset): string {
  return `${mediaType}; charset=${charset}`;
}
