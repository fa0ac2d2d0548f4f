/**
 * Value converters of the declarative mapping: each one turns a present native value into a
 * standard value (reporting problems through the Mapper, so that all of them are collected with
 * the native and the standard field) and back. Absence, optionality and defaults are handled by the
 * engine, not here: a converter only sees values that are there.
 */
import type { CodeList } from '../../../standards/xoev/codelist.ts';
import type { AdapterContext } from '../adapter.ts';
import {
  acceptedText,
  type DateFormat,
  formatDate,
  formatNumber,
  invert,
  type Mapper,
  type NumberFormat,
} from '../mapper.ts';
import type { CodedValue } from './paths.ts';

/** Where a value sits: the native field as the format names it in errors, and the standard pointer. */
export interface FieldAt {
  /** `$.person.nachname`, `/MeldeVorgang/Einwohner/Name`, `line 3, column NACHNAME`. */
  native: string;
  pointer: string;
  /** The native name of a part of the field (`[2]` → `$.person.staatsangehoerigkeiten[2]`). */
  nativeAt(suffix: string): string;
}

/** Entry `index` of a list field; like the field's own location, its names are worked out only when read. */
class EntryLocation implements FieldAt {
  constructor(
    private readonly list: FieldAt,
    private readonly index: number,
  ) {}

  get native(): string {
    return this.list.nativeAt(`[${this.index}]`);
  }

  get pointer(): string {
    return `${this.list.pointer}/${this.index}`;
  }

  nativeAt(suffix: string): string {
    return this.list.nativeAt(suffix);
  }
}

export interface DecodeScope {
  mapper: Mapper;
  context: AdapterContext;
  /** How the format names a native path in errors. */
  nativeName(path: string): string;
}

export interface EncodeScope {
  context: AdapterContext;
  /** Records that a standard value has no native form; encode() throws with all of them at the end. */
  fail(pointer: string, detail: string, nativeField?: string): undefined;
}

export interface Converter<N, S> {
  /** What the native value looks like, for generated docs and error messages. */
  describe: string;
  decode(native: N, at: FieldAt, scope: DecodeScope): S | undefined;
  encode(value: S, at: FieldAt, scope: EncodeScope): N | undefined;
}

export function textConverter(): Converter<unknown, string> {
  return {
    describe: 'text',
    decode: (v, at, { mapper }) => mapper.textAt(v, at),
    encode: (v) => v,
  };
}

export function dateConverter(format: DateFormat): Converter<unknown, string> {
  return {
    describe: `date ${format}`,
    decode: (v, at, { mapper }) => mapper.dateAt(v, at, format),
    encode: (v) => formatDate(v, format),
  };
}

/**
 * Numbers. `asText` writes the native value as a string (CSV, fixed-width, XML); JSON systems get a
 * JSON number unless their format writes numbers as text.
 */
export function numberConverter(
  format: NumberFormat & { asText?: boolean } = {},
): Converter<unknown, number> {
  return {
    describe: 'number',
    decode: (v, at, { mapper }) => mapper.numberAt(v, at, format),
    encode: (v) => (format.asText || format.decimalSeparator === ',' ? formatNumber(v, format) : v),
  };
}

export interface BoolCodes {
  true: readonly unknown[];
  false: readonly unknown[];
}

export function boolConverter(
  codes: BoolCodes = { true: [true], false: [false] },
): Converter<unknown, boolean> {
  return {
    describe: `one of ${[...codes.true, ...codes.false].map((c) => JSON.stringify(c)).join(', ')}`,
    decode: (v, at, { mapper }) =>
      mapper.boolAt(typeof v === 'string' ? v.trim() : v, at, codes.true, codes.false),
    encode: (v) => (v ? codes.true[0] : codes.false[0]),
  };
}

/** A coded value; `valueMap` maps native codes to codes of `list` (identity when absent). */
export function codeConverter(
  list: CodeList,
  valueMap?: Record<string, string>,
): Converter<unknown, CodedValue> {
  const out = valueMap ? invert(valueMap) : undefined;
  return {
    describe: `code (${list.name})`,
    decode: (v, at, { mapper }) => mapper.codeAt(list, v, at, valueMap),
    encode(value, at, scope) {
      if (!out) return value.code;
      const native = out[value.code];
      if (native === undefined) {
        return scope.fail(
          `${at.pointer}/code`,
          `code ${JSON.stringify(value.code)} of ${list.listURI} has no counterpart in the system's code table`,
          at.native,
        );
      }
      return native;
    },
  };
}

/**
 * A list of coded values: a native array, or one string with `separator` between the codes
 * (`000,152`). Errors name the entry.
 */
export function codesConverter(
  list: CodeList,
  options: { valueMap?: Record<string, string>; separator?: string } = {},
): Converter<unknown, CodedValue[]> {
  const one = codeConverter(list, options.valueMap);
  return {
    describe: `codes (${list.name})${options.separator ? ` separated by ${JSON.stringify(options.separator)}` : ''}`,
    decode(v, at, scope) {
      const items = options.separator && typeof v === 'string' ? v.split(options.separator) : v;
      if (!Array.isArray(items)) {
        scope.mapper.fail(at.native, at.pointer, 'must be a list');
        return [];
      }
      return items.map((item, i) => one.decode(item, new EntryLocation(at, i), scope) as CodedValue);
    },
    encode(values, at, scope) {
      const natives = values.map((value, i) => one.encode(value, new EntryLocation(at, i), scope));
      return options.separator ? natives.join(options.separator) : natives;
    },
  };
}

/** A list of free texts: a native array, or one string with `separator` between the entries. */
export function textsConverter(options: { separator?: string } = {}): Converter<unknown, string[]> {
  return {
    describe: 'list of texts',
    decode(v, at, { mapper }) {
      const items = options.separator && typeof v === 'string' ? v.split(options.separator) : v;
      if (!Array.isArray(items)) {
        mapper.fail(at.native, at.pointer, 'must be a list');
        return [];
      }
      return items.map(
        (item, i) => acceptedText(item) ?? mapper.text(item, at.nativeAt(`[${i}]`), `${at.pointer}/${i}`),
      );
    },
    encode: (values) => (options.separator ? values.join(options.separator) : values),
  };
}

/** One standard text kept natively as a list of words (`["Anna", "Lena"]` ↔ `Anna Lena`). */
export function wordsConverter(separator = ' '): Converter<unknown, string> {
  return {
    describe: `list joined by ${JSON.stringify(separator)}`,
    decode(v, at, { mapper }) {
      if (!Array.isArray(v)) return mapper.textAt(v, at);
      const words = v.map((w, i) => acceptedText(w) ?? mapper.text(w, at.nativeAt(`[${i}]`), at.pointer));
      return words.join(separator);
    },
    encode: (v) => v.split(separator),
  };
}

/** A DVDV key kept natively without its prefix (`14612000` ↔ `ags:14612000`). */
export function kennungConverter(prefix: string): Converter<unknown, string> {
  return {
    describe: `${prefix} key without prefix`,
    decode: (v, at, { mapper }) => {
      const id = mapper.textAt(v, at);
      return id ? `${prefix}:${id}` : '';
    },
    encode(value, at, scope) {
      if (!value.startsWith(`${prefix}:`)) {
        return scope.fail(at.pointer, `the system only knows ${prefix}: keys, not ${value}`, at.native);
      }
      return value.slice(prefix.length + 1);
    },
  };
}

/** An RFC 4122 UUID; native systems often write upper case, the standard wants lower case. */
export function uuidConverter(): Converter<unknown, string> {
  return {
    describe: 'UUID',
    decode: (v, at, { mapper }) => mapper.textAt(v, at).toLowerCase(),
    encode: (v) => v,
  };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A decimal kept as text in the standard (xs:decimal such as `1234.56`: exact, never a float) and
 * written natively with the system's separators (`1.234,56`). The standard writes `fractionDigits`
 * decimals (default 2); group separators are optional when reading.
 */
export function decimalConverter(
  format: {
    decimalSeparator?: '.' | ',';
    groupSeparator?: '.' | ',' | ' ' | "'";
    fractionDigits?: number;
  } = {},
): Converter<unknown, string> {
  const decimal = format.decimalSeparator ?? '.';
  const digits = format.fractionDigits ?? 2;
  const group = format.groupSeparator;
  const example = `${group ? `1${group}234` : '1234'}${digits > 0 ? `${decimal}${'5'.repeat(digits)}` : ''}`;
  const integer = group ? `(\\d{1,3}(?:${escapeRegExp(group)}\\d{3})+|\\d+)` : '(\\d+)';
  const pattern = new RegExp(`^(-?)${integer}(?:${escapeRegExp(decimal)}(\\d{1,${Math.max(digits, 1)}}))?$`);
  return {
    describe: `amount like ${example}`,
    decode(v, at, { mapper }) {
      const raw = typeof v === 'number' ? String(v).replace('.', decimal) : mapper.textAt(v, at);
      if (!raw) return '';
      const m = pattern.exec(raw);
      if (!m || (digits === 0 && m[3] !== undefined)) {
        return mapper.fail(at.native, at.pointer, `${JSON.stringify(raw)} is not an amount like ${example}`);
      }
      const whole = (group ? m[2]!.split(group).join('') : m[2]!).replace(/^0+(?=\d)/, '');
      return `${m[1]}${whole}${digits > 0 ? `.${(m[3] ?? '').padEnd(digits, '0')}` : ''}`;
    },
    encode(value) {
      const [int, frac] = value.split('.');
      const sign = int!.startsWith('-') ? '-' : '';
      const whole = int!.replace('-', '');
      const grouped = group ? whole.replace(/\B(?=(\d{3})+(?!\d))/g, group) : whole;
      return `${sign}${grouped}${frac === undefined ? '' : `${decimal}${frac}`}`;
    },
  };
}
