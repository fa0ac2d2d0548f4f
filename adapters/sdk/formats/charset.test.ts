import fc from 'fast-check';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../gateway/errors/catalogue.ts';
import { decodeText, encodeText, unrepresentable } from './charset.ts';

function failure(run: () => unknown): GatewayError {
  try {
    run();
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error('expected a GatewayError');
}

describe('single-byte charsets', () => {
  it('decodes Windows-1252 including the characters Latin-1 lacks', () => {
    const bytes = Buffer.from([0x80, 0x20, 0x84, 0x8a, 0x93, 0x20, 0xe4, 0xdf]);
    expect(decodeText(bytes, 'windows-1252')).toBe('€ „Š“ äß');
    expect(decodeText(Buffer.from([0xe4, 0xf6, 0xfc]), 'iso-8859-1')).toBe('äöü');
  });

  it('names line and column of a byte Windows-1252 does not define', () => {
    const error = failure(() => decodeText(Buffer.from('Kopf\nab\x81c', 'latin1'), 'windows-1252'));
    expect(error.code).toBe('GW_ERR_MALFORMED_PAYLOAD');
    expect(error.message).toBe('line 2, column 3: byte 0x81 is not defined in Windows-1252');
  });

  it('recognises a UTF-8 export where a single-byte charset was agreed', () => {
    const error = failure(() =>
      decodeText(Buffer.from('NAME;ORT\nMüller;Görlitz\n', 'utf8'), 'windows-1252'),
    );
    expect(error.message).toMatch(/^line 2, column 2: the payload is UTF-8, not windows-1252/);
    expect(error.errors[0]).toMatchObject({ nativeField: 'line 2, column 2' });
  });

  it('reads genuine Windows-1252 whose bytes also happen to form UTF-8 when other umlauts show it is not', () => {
    const bytes = iconv.encode('Ö– Müller', 'win1252'); // 0xD6 0x96 alone would be valid UTF-8
    expect(decodeText(bytes, 'windows-1252')).toBe('Ö– Müller');
  });

  it('refuses C1 controls in ISO-8859-1 and hints at Windows-1252', () => {
    expect(failure(() => decodeText(Buffer.from([0x41, 0x80]), 'iso-8859-1')).message).toContain(
      'is the file Windows-1252?',
    );
  });

  it('never writes ? for a character the charset lacks', () => {
    expect(unrepresentable('Łódź', 'windows-1252')).toBe('Ł');
    expect(unrepresentable('Preis 5 €', 'iso-8859-1')).toBe('€');
    expect(failure(() => encodeText('Łódź', 'windows-1252')).message).toBe(
      'U+0141 cannot be written in windows-1252',
    );
  });

  it('round-trips every text the charset can carry', () => {
    const cp1252 = [
      ...'€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ',
      ...Array.from({ length: 96 }, (_, i) => String.fromCharCode(0xa0 + i)),
    ];
    const ascii = Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i));
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...ascii, ...cp1252, '\t', '\n'), { maxLength: 40 }), (chars) => {
        const text = chars.join('');
        const bytes = encodeText(text, 'windows-1252');
        // Bytes that also form valid multi-byte UTF-8 ("Â³" is C3 B3 = "ó") are refused on purpose:
        // an export mislabelled as Windows-1252 is the likelier cause. The round trip holds for the rest.
        const asUtf8 = new TextDecoder('utf-8', { fatal: false }).decode(bytes).replaceAll('\uFFFD', '');
        fc.pre([...asUtf8].every((c) => c.charCodeAt(0) < 0x80));
        expect(decodeText(bytes, 'windows-1252')).toBe(text);
      }),
      { numRuns: 300 },
    );
  });
});
