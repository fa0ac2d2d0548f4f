import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../gateway/errors/catalogue.ts';
import { type CsvDialect, parseCsv, parseCsvRows, writeCsv } from './csv.ts';

const DIALECT: CsvDialect = { separator: ';', charset: 'windows-1252' };
const csv = (text: string) => Buffer.from(text, 'latin1');

function failure(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof GatewayError) return error.message;
    throw error;
  }
  throw new Error('expected a GatewayError');
}

describe('CSV', () => {
  it('reads quoted fields with separators, doubled quotes and line breaks, counting physical lines', () => {
    const rows = parseCsvRows('a;"b;c";"say ""hi"""\r\n"multi\r\nline";x;y\r\n\r\nlast;1;2', DIALECT);
    expect(rows).toEqual([
      { line: 1, fields: ['a', 'b;c', 'say "hi"'] },
      { line: 2, fields: ['multi\r\nline', 'x', 'y'] },
      { line: 5, fields: ['last', '1', '2'] },
    ]);
  });

  it('names the line of every syntax error', () => {
    expect(failure(() => parseCsvRows('a;b\nc;"open', DIALECT))).toBe(
      'line 2: a quoted field (field 2) is not closed',
    );
    expect(failure(() => parseCsvRows('a;b"c', DIALECT))).toBe('line 1: stray quote inside unquoted field 2');
    expect(failure(() => parseCsvRows('"a"b;c', DIALECT))).toBe(
      'line 1: unexpected "b" after the closing quote of field 1',
    );
  });

  it('checks the header against the expected columns and every row against the header', () => {
    expect(failure(() => parseCsv(csv('A;B;X\n1;2;3\n'), DIALECT, ['A', 'B']))).toBe(
      'line 1: unknown column(s) in the header: X',
    );
    expect(failure(() => parseCsv(csv('A\n1\n'), DIALECT, ['A', 'B']))).toBe(
      'line 1: column(s) missing from the header: B',
    );
    expect(failure(() => parseCsv(csv('A;B\n1;2\n3\n'), DIALECT, ['A', 'B']))).toBe(
      'line 3: 1 fields, but the header has 2 columns',
    );
    expect(parseCsv(csv('B;A\n2;1\n'), DIALECT, ['A', 'B']).rows).toEqual([
      { line: 2, values: { B: '2', A: '1' } },
    ]);
  });

  it('writes what it reads, whatever the fields contain', () => {
    const field = fc.string({
      unit: fc.constantFrom('a', 'ä', ';', '"', ' ', '\r', '\n', '€', 'x'),
      maxLength: 12,
    });
    fc.assert(
      fc.property(fc.array(fc.tuple(field, field), { minLength: 1, maxLength: 5 }), (rows) => {
        const body = writeCsv(
          ['A', 'B'],
          rows.map(([a, b]) => ({ A: a, B: b })),
          DIALECT,
        );
        expect(parseCsv(body, DIALECT, ['A', 'B']).rows.map((r) => [r.values.A, r.values.B])).toEqual(rows);
      }),
      { numRuns: 300 },
    );
  });
});
