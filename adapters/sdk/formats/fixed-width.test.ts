import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../gateway/errors/catalogue.ts';
import { formatRecord, parseFixedWidth, recordLayout, sequentialLayout } from './fixed-width.ts';

const PERSON = sequentialLayout('PERSON', [
  ['SATZART', 2, 'numeric'],
  ['NAME', 10, 'alpha'],
  ['PLZ', 5, 'numeric'],
]);
const ADRESSE = sequentialLayout('ADRESSE', [
  ['SATZART', 2, 'numeric'],
  ['ORT', 6, 'alpha'],
]);
const OPTIONS = {
  charset: 'iso-8859-1' as const,
  layouts: [PERSON, ADRESSE],
  recordType: { start: 1, length: 2, values: { '10': 'PERSON', '20': 'ADRESSE' } },
};
const file = (text: string) => Buffer.from(text, 'latin1');

function failure(run: () => unknown): GatewayError {
  try {
    run();
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error('expected a GatewayError');
}

describe('fixed-width records', () => {
  it('refuses a layout whose fields overlap', () => {
    expect(() =>
      recordLayout('X', [
        { name: 'A', start: 1, length: 5, type: 'alpha' },
        { name: 'B', start: 5, length: 2, type: 'alpha' },
      ]),
    ).toThrow('layout X: field B overlaps the field before it');
  });

  it('reads records by their type, trimming text and keeping leading zeros', () => {
    const records = parseFixedWidth(file('10Jörg      01099\r\n20Jena  \r\n'), OPTIONS);
    expect(records.map((r) => [r.line, r.layout.name, r.values])).toEqual([
      [1, 'PERSON', { SATZART: '10', NAME: 'Jörg', PLZ: '01099' }],
      [2, 'ADRESSE', { SATZART: '20', ORT: 'Jena' }],
    ]);
  });

  it('names the line and the first field a short line cannot fill', () => {
    const error = failure(() => parseFixedWidth(file('20Jena  \n10Jörg      010\n'), OPTIONS));
    expect(error.code).toBe('GW_ERR_MALFORMED_PAYLOAD');
    expect(error.errors[0]!.nativeField).toBe('line 2, field PLZ (columns 13-17)');
    expect(error.message).toContain('the line ends at column 15; a PERSON record is 17 characters long');
  });

  it('refuses long lines, letters in numeric fields and unknown record types, naming where', () => {
    expect(failure(() => parseFixedWidth(file('20Jena    x\n'), OPTIONS)).message).toBe(
      'line 1: 11 characters; a ADRESSE record is 8 characters long',
    );
    expect(failure(() => parseFixedWidth(file('10Jörg      01O99\n'), OPTIONS)).message).toBe(
      'line 1, field PLZ (columns 13-17): "01O99" is not numeric',
    );
    expect(failure(() => parseFixedWidth(file('30xx\n'), OPTIONS)).message).toBe(
      'line 1, columns 1-2: unknown record type "30"; expected "10" or "20"',
    );
  });

  it('writes records padded, and refuses a value wider than its field', () => {
    expect(formatRecord(PERSON, { SATZART: '10', NAME: 'Ute', PLZ: '7743' })).toBe('10Ute       07743');
    expect(() => formatRecord(PERSON, { SATZART: '10', NAME: 'Hildegardis', PLZ: '1' })).toThrow(
      'field NAME (columns 3-12) holds 10 characters; the value has 11',
    );
  });
});
