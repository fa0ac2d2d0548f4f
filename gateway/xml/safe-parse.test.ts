import { describe, expect, it } from 'vitest';
import { isGatewayError } from '../errors/catalogue.ts';
import { parseXmlSafely } from './safe-parse.ts';

function refusal(xml: string): string {
  try {
    parseXmlSafely(xml);
  } catch (error) {
    if (isGatewayError(error)) return `${error.code}: ${error.message}`;
    throw error;
  }
  return 'parsed';
}

describe('parseXmlSafely: characters the parser would change', () => {
  it.each([
    ['NEL', '\u0085', '0085'],
    ['LINE SEPARATOR', '\u2028', '2028'],
    ['PARAGRAPH SEPARATOR', '\u2029', '2029'],
  ])('refuses a raw %s in text and attributes instead of reading it as a line feed', (_, ch, hex) => {
    expect(refusal(`<a>x${ch}y</a>`)).toBe(
      `GW_ERR_MALFORMED_PAYLOAD: malformed XML: raw U+${hex}, which the XML parser would change into a line feed, at offset 4`,
    );
    expect(refusal(`<a b="x${ch}y"/>`)).toMatch(new RegExp(`^GW_ERR_MALFORMED_PAYLOAD: .*U\\+${hex}`));
  });

  it('keeps the character unchanged when it arrives as a character reference', () => {
    const doc = parseXmlSafely('<a b="x&#x2028;y">p&#x85;q&#x2029;r</a>');
    expect(doc.documentElement.getAttribute('b')).toBe('x\u2028y');
    expect(doc.documentElement.textContent).toBe('p\u0085q\u2029r');
  });

  it('still reads CR written as a character reference (exc-c14n writes CR so)', () => {
    expect(parseXmlSafely('<a>x&#xD;y</a>').documentElement.textContent).toBe('x\ry');
  });
});
