/**
 * The built-in converters name their field (the format's native name, the prefixed pointer) only
 * to report a problem: an error-free decode, every field of every message, builds neither name.
 * What they return and report is what the Mapper's methods return and report when handed the names.
 */
import { describe, expect, it } from 'vitest';
import type { FieldError } from '../../../gateway/errors/catalogue.ts';
import { LISTS } from '../../../standards/xmeld/25.11/schema.ts';
import type { AdapterContext } from '../adapter.ts';
import { type DateFormat, Mapper } from '../mapper.ts';
import {
  boolConverter,
  type Converter,
  codeConverter,
  codesConverter,
  dateConverter,
  decimalConverter,
  type FieldAt,
  kennungConverter,
  numberConverter,
  textConverter,
  textsConverter,
  uuidConverter,
  wordsConverter,
} from './converters.ts';

const NATIVE = '$.person.feld';
const POINTER = '/person/feld';

/** A field location that counts how often its names are read. */
function countingAt() {
  const reads = { count: 0 };
  const at: FieldAt = {
    get native() {
      reads.count++;
      return NATIVE;
    },
    get pointer() {
      reads.count++;
      return POINTER;
    },
    nativeAt(suffix: string) {
      reads.count++;
      return `${NATIVE}${suffix}`;
    },
  };
  return { at, reads };
}

function decodeWith(converter: Converter<unknown, unknown>, value: unknown) {
  const mapper = new Mapper();
  const { at, reads } = countingAt();
  const result = converter.decode(value, at, { mapper, context: {} as AdapterContext, nativeName: (p) => p });
  return { result, errors: mapper.errors, reads: reads.count };
}

/** The Mapper called eagerly with the names, as every converter did before. */
function eagerly(call: (mapper: Mapper) => unknown): { result: unknown; errors: FieldError[] } {
  const mapper = new Mapper();
  const result = call(mapper);
  return { result, errors: mapper.errors };
}

const TEXTS = [
  'Anna',
  '  Anna  ',
  '',
  '   ',
  42,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  null,
  undefined,
  true,
  {},
  [],
  'Ma\uFFFDller',
];
const DATES: [DateFormat, unknown][] = [
  ['iso', '1988-04-12'],
  ['iso', ' 1988-04-12 '],
  ['iso', '1988-02-30'],
  ['iso', '12.04.1988'],
  ['iso', ''],
  ['iso', 19880412],
  ['de', '12.04.1988'],
  ['de', '31.04.1988'],
  ['de', '1988-04-12'],
  ['compact', '19880412'],
  ['compact', '19880230'],
  ['compact', 19880412],
];

describe('built-in converters', () => {
  it('read no field name when the value is fine', () => {
    const fine: [Converter<unknown, unknown>, unknown][] = [
      [textConverter(), 'Anna'],
      [textConverter(), 7],
      [dateConverter('iso'), '1988-04-12'],
      [dateConverter('de'), '12.04.1988'],
      [dateConverter('compact'), '19880412'],
      [numberConverter(), 12],
      [numberConverter({ decimalSeparator: ',' }), '12,5'],
      [boolConverter({ true: ['J'], false: ['N'] }), 'J'],
      [codeConverter(LISTS.geschlecht), 'm'],
      [codeConverter(LISTS.geschlecht, { M: 'm', W: 'w' }), 'W'],
      [codesConverter(LISTS.staat, { separator: ',' }), '000,152'],
      [textsConverter(), ['a', 'b']],
      [wordsConverter(), ['Anna', 'Lena']],
      [kennungConverter('ags'), '14612000'],
      [uuidConverter(), 'D4E5F6A7-B8C9-4DAE-9F01-3B4C5D6E7F80'],
      [decimalConverter({ decimalSeparator: ',' }), '1234,5'],
    ];
    for (const [converter, value] of fine) {
      const { errors, reads } = decodeWith(converter, value);
      expect(errors, converter.describe).toEqual([]);
      expect(reads, converter.describe).toBe(0);
    }
  });

  it('text: the value and the problems of Mapper.text', () => {
    for (const value of TEXTS) {
      expect(decodeWith(textConverter(), value)).toMatchObject(
        eagerly((m) => m.text(value, NATIVE, POINTER)),
      );
    }
  });

  it('date: the value and the problems of Mapper.date', () => {
    for (const [format, value] of DATES) {
      expect(decodeWith(dateConverter(format), value)).toMatchObject(
        eagerly((m) => m.date(value, NATIVE, POINTER, format)),
      );
    }
    for (const value of TEXTS) {
      expect(decodeWith(dateConverter('iso'), value)).toMatchObject(
        eagerly((m) => m.date(value, NATIVE, POINTER, 'iso')),
      );
    }
  });

  it('code: the value and the problems of Mapper.code, with and without a value map', () => {
    const valueMap = { M: 'm', W: 'w', X: 'nicht-auf-der-liste' };
    for (const value of [...TEXTS, 'm', 'M', 'X', 'toString', '__proto__', 'constructor']) {
      expect(decodeWith(codeConverter(LISTS.geschlecht), value)).toMatchObject(
        eagerly((m) => m.code(LISTS.geschlecht, value, NATIVE, POINTER)),
      );
      expect(decodeWith(codeConverter(LISTS.geschlecht, valueMap), value)).toMatchObject(
        eagerly((m) => m.code(LISTS.geschlecht, value, NATIVE, POINTER, valueMap)),
      );
    }
  });

  it('bool and number: the values and the problems of Mapper.bool and Mapper.number', () => {
    for (const value of [...TEXTS, 'J', ' N ', 'j', 1, 0, false]) {
      expect(decodeWith(boolConverter({ true: ['J', 1], false: ['N', 0] }), value)).toMatchObject(
        eagerly((m) =>
          m.bool(typeof value === 'string' ? value.trim() : value, NATIVE, POINTER, ['J', 1], ['N', 0]),
        ),
      );
    }
    for (const value of [...TEXTS, '12', '12,5', '1.234,5', '12.5', '-3']) {
      for (const format of [{}, { decimalSeparator: ',' as const }, { impliedDecimals: 2 }]) {
        expect(decodeWith(numberConverter(format), value)).toMatchObject(
          eagerly((m) => m.number(value, NATIVE, POINTER, format)),
        );
      }
    }
  });

  it('lists name the entry at fault', () => {
    expect(decodeWith(wordsConverter(), ['Anna', ' ', 7]).errors).toEqual([
      { pointer: POINTER, nativeField: `${NATIVE}[1]`, detail: 'must be a non-empty string' },
    ]);
    expect(decodeWith(textsConverter(), ['a', null]).errors).toEqual([
      { pointer: `${POINTER}/1`, nativeField: `${NATIVE}[1]`, detail: 'is required' },
    ]);
    expect(decodeWith(codesConverter(LISTS.staat), ['000', 'XYZ']).errors).toEqual([
      {
        pointer: `${POINTER}/1/code`,
        nativeField: `${NATIVE}[1]`,
        detail: expect.stringContaining('"XYZ" has no counterpart on code list'),
      },
    ]);
  });
});
