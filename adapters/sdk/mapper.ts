/**
 * Reading native payloads field by field with the field's native path attached, so that every
 * mapping error names both the native field (`$.person.geschlecht`) and the standard field
 * (`/person/geschlecht/code`). Errors are collected, not thrown one by one: an integrator fixing a
 * payload sees all of them at once.
 */
import { type FieldError, GatewayError } from '../../gateway/errors/catalogue.ts';
import type { CodeList } from '../../standards/xoev/codelist.ts';
import { digitsAt, isCalendarDay } from '../../standards/xoev/nachrichtenkopf.ts';

type Coded = { listURI: string; listVersionID: string; code: string };

/**
 * Where a field sits. The `*At` methods read the names only to report a problem: working them out
 * (a format's native name, a sub-mapping's prefixed pointer) costs string building on every field of
 * every message, and an error-free decode never needs them.
 */
export interface FieldNames {
  readonly native: string;
  readonly pointer: string;
}

/**
 * The text Mapper.text would return for `value` when it reports nothing; undefined when it would
 * report a problem (the caller then calls Mapper.text with the field's names, which reports it).
 */
export function acceptedText(value: unknown): string | undefined {
  if (typeof value === 'string') {
    const trimmed = value.trim();
    return trimmed === '' || trimmed.includes('\uFFFD') ? undefined : trimmed;
  }
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

export class Mapper {
  readonly errors: FieldError[] = [];

  constructor(private readonly nativePrefix = '') {}

  fail(nativeField: string, pointer: string, detail: string): undefined {
    this.errors.push({ pointer, nativeField: this.nativePrefix + nativeField, detail });
    return undefined;
  }

  /** A required non-empty string; numbers are accepted and stringified (legacy systems mix them). */
  text(value: unknown, nativeField: string, pointer: string): string {
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
    const trimmed = typeof value === 'string' ? value.trim() : '';
    if (trimmed === '') {
      this.fail(
        nativeField,
        pointer,
        value === undefined || value === null ? 'is required' : 'must be a non-empty string',
      );
      return '';
    }
    // U+FFFD is what a decoder leaves where it could not read a character: never a name in a register.
    if (trimmed.includes('\uFFFD')) {
      this.fail(nativeField, pointer, 'contains U+FFFD, the mark of a character lost to a wrong encoding');
      return '';
    }
    return trimmed;
  }

  /** Mapper.text, naming the field only if it reports a problem. */
  textAt(value: unknown, at: FieldNames): string {
    return acceptedText(value) ?? this.text(value, at.native, at.pointer);
  }

  optionalText(value: unknown, nativeField: string, pointer: string): string | undefined {
    if (value === undefined || value === null || value === '') return undefined;
    return this.text(value, nativeField, pointer);
  }

  bool(
    value: unknown,
    nativeField: string,
    pointer: string,
    truthy: unknown[] = [true],
    falsy: unknown[] = [false],
  ): boolean {
    if (truthy.includes(value)) return true;
    if (falsy.includes(value)) return false;
    this.fail(
      nativeField,
      pointer,
      `must be one of ${[...truthy, ...falsy].map((v) => JSON.stringify(v)).join(', ')}`,
    );
    return false;
  }

  /** Mapper.bool, naming the field only if it reports a problem. */
  boolAt(value: unknown, at: FieldNames, truthy: readonly unknown[], falsy: readonly unknown[]): boolean {
    if (truthy.includes(value)) return true;
    if (falsy.includes(value)) return false;
    return this.bool(value, at.native, at.pointer, [...truthy], [...falsy]);
  }

  /** Maps a native code through `valueMap` (identity when absent) onto `list`. */
  code(
    list: CodeList,
    value: unknown,
    nativeField: string,
    pointer: string,
    valueMap?: Record<string, string>,
  ): Coded {
    const raw = this.text(value, nativeField, `${pointer}/code`);
    const mapped = valueMap ? valueMap[raw] : raw;
    if (raw && (mapped === undefined || !list.has(mapped))) {
      this.fail(
        nativeField,
        `${pointer}/code`,
        `value ${JSON.stringify(raw)} has no counterpart on code list ${list.listURI} version ${list.listVersionID}`,
      );
    }
    return { listURI: list.listURI, listVersionID: list.listVersionID, code: mapped ?? raw };
  }

  /** Mapper.code, naming the field only if it reports a problem. */
  codeAt(list: CodeList, value: unknown, at: FieldNames, valueMap?: Record<string, string>): Coded {
    const raw = acceptedText(value);
    if (raw !== undefined) {
      const mapped = valueMap ? valueMap[raw] : raw;
      if (mapped !== undefined && list.has(mapped)) {
        return { listURI: list.listURI, listVersionID: list.listVersionID, code: mapped };
      }
    }
    return this.code(list, value, at.native, at.pointer, valueMap);
  }

  /** Mapper.date, naming the field only if it reports a problem. */
  dateAt(value: unknown, at: FieldNames, format: DateFormat): string {
    const raw = acceptedText(value);
    return (
      (raw === undefined ? undefined : isoDay(raw, format)) ?? this.date(value, at.native, at.pointer, format)
    );
  }

  /** Mapper.number, naming the field only if it reports a problem. */
  numberAt(value: unknown, at: FieldNames, format: NumberFormat = {}): number {
    if (typeof value === 'number' && Number.isFinite(value)) return value;
    const raw = acceptedText(value);
    const parsed = raw === undefined ? undefined : parseNumber(raw, format);
    return parsed ?? this.number(value, at.native, at.pointer, format);
  }

  /** A native date in `format` → ISO `JJJJ-MM-TT`, checking that the day exists. */
  date(value: unknown, nativeField: string, pointer: string, format: DateFormat): string {
    const raw = this.text(value, nativeField, pointer);
    if (!raw) return '';
    const match = DATE_PATTERNS[format].exec(raw);
    const { y, m, d } = match?.groups ?? {};
    const iso = match ? `${y}-${m}-${d}` : '';
    if (!match || !isCalendarDay(Number(y), Number(m), Number(d))) {
      this.fail(
        nativeField,
        pointer,
        `${JSON.stringify(raw)} is not a date in the form ${DATE_FORMAT_NAMES[format]}`,
      );
    }
    return iso;
  }

  /** A native number written in `format` (decimal comma, implied decimals, …) → a JavaScript number. */
  number(value: unknown, nativeField: string, pointer: string, format: NumberFormat = {}): number {
    if (typeof value === 'number' && Number.isFinite(value)) return value;
    const raw = this.text(value, nativeField, pointer);
    if (!raw) return 0;
    const parsed = parseNumber(raw, format);
    if (parsed === undefined) {
      this.fail(
        nativeField,
        pointer,
        `${JSON.stringify(raw)} is not a number in the form ${describeNumber(format)}`,
      );
      return 0;
    }
    return parsed;
  }

  /** Throws GW_ERR_MAPPING_FAILED with every collected error; returns `value` when there were none. */
  finish<T>(value: T): T {
    if (this.errors.length > 0) {
      const first = this.errors[0]!;
      throw new GatewayError('GW_ERR_MAPPING_FAILED', `${first.nativeField}: ${first.detail}`, {
        errors: this.errors,
      });
    }
    return value;
  }
}

/**
 * Native date forms: `iso` JJJJ-MM-TT, `de` TT.MM.JJJJ (German forms and dialects), `compact`
 * JJJJMMTT (mainframe records).
 */
export type DateFormat = 'iso' | 'de' | 'compact';

const DATE_PATTERNS: Record<DateFormat, RegExp> = {
  iso: /^(?<y>\d{4})-(?<m>\d{2})-(?<d>\d{2})$/,
  de: /^(?<d>\d{2})\.(?<m>\d{2})\.(?<y>\d{4})$/,
  compact: /^(?<y>\d{4})(?<m>\d{2})(?<d>\d{2})$/,
};

/** Where DATE_PATTERNS find year, month and day, and the separators between them. */
const DATE_LAYOUT: Record<
  DateFormat,
  { length: number; year: number; month: number; day: number; separators: [number, number][] }
> = {
  iso: {
    length: 10,
    year: 0,
    month: 5,
    day: 8,
    separators: [
      [4, 45],
      [7, 45],
    ],
  },
  de: {
    length: 10,
    year: 6,
    month: 3,
    day: 0,
    separators: [
      [2, 46],
      [5, 46],
    ],
  },
  compact: { length: 8, year: 0, month: 4, day: 6, separators: [] },
};

/**
 * What Mapper.date returns for `raw` in `format` when it reports nothing (a day that exists, ISO
 * JJJJ-MM-TT), read in place; undefined otherwise. DATE_PATTERNS with a groups object, three
 * Number() and a template per date cost several times as much, on every date of every message.
 */
function isoDay(raw: string, format: DateFormat): string | undefined {
  const layout = DATE_LAYOUT[format];
  if (raw.length !== layout.length) return undefined;
  for (const [index, code] of layout.separators) if (raw.charCodeAt(index) !== code) return undefined;
  const year = digitsAt(raw, layout.year, layout.year + 4);
  const month = digitsAt(raw, layout.month, layout.month + 2);
  const day = digitsAt(raw, layout.day, layout.day + 2);
  if (year < 0 || month < 0 || day < 0 || !isCalendarDay(year, month, day)) return undefined;
  if (format === 'iso') return raw;
  return `${raw.slice(layout.year, layout.year + 4)}-${raw.slice(layout.month, layout.month + 2)}-${raw.slice(layout.day, layout.day + 2)}`;
}

export const DATE_FORMAT_NAMES: Record<DateFormat, string> = {
  iso: 'JJJJ-MM-TT',
  de: 'TT.MM.JJJJ',
  compact: 'JJJJMMTT',
};

/** ISO date → the native form. */
export function formatDate(iso: string, format: DateFormat): string {
  const [y, m, d] = iso.split('-');
  if (format === 'de') return `${d}.${m}.${y}`;
  if (format === 'compact') return `${y}${m}${d}`;
  return iso;
}

/** ISO date → `TT.MM.JJJJ`. */
export function toGermanDate(iso: string): string {
  return formatDate(iso, 'de');
}

/**
 * How a system writes numbers: `decimalSeparator` (`,` in German systems), an optional
 * `groupSeparator` (`.` in `1.234,56`), or `impliedDecimals` for mainframe fields that store
 * 1234,56 as `123456` with two implied decimal places.
 */
export interface NumberFormat {
  decimalSeparator?: '.' | ',';
  groupSeparator?: '.' | ',' | ' ' | "'";
  impliedDecimals?: number;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function describeNumber(format: NumberFormat): string {
  if (format.impliedDecimals) return `digits with ${format.impliedDecimals} implied decimal places`;
  const decimal = format.decimalSeparator ?? '.';
  return format.groupSeparator ? `1${format.groupSeparator}234${decimal}56` : `1234${decimal}56`;
}

export function parseNumber(raw: string, format: NumberFormat): number | undefined {
  if (format.impliedDecimals !== undefined) {
    if (!/^[+-]?\d+$/.test(raw)) return undefined;
    return Number(raw) / 10 ** format.impliedDecimals;
  }
  const decimal = format.decimalSeparator ?? '.';
  const group = format.groupSeparator ? `(?:${escapeRegExp(format.groupSeparator)}\\d{3})*` : '\\d*';
  const pattern = format.groupSeparator
    ? new RegExp(`^[+-]?\\d{1,3}${group}(?:${escapeRegExp(decimal)}\\d+)?$`)
    : new RegExp(`^[+-]?\\d+(?:${escapeRegExp(decimal)}\\d+)?$`);
  if (!pattern.test(raw)) return undefined;
  let plain = raw;
  if (format.groupSeparator) plain = plain.split(format.groupSeparator).join('');
  return Number(plain.replace(decimal, '.'));
}

/** A number → the native form; `impliedDecimals` fields are written as digits only. */
export function formatNumber(value: number, format: NumberFormat): string {
  if (format.impliedDecimals !== undefined) return String(Math.round(value * 10 ** format.impliedDecimals));
  const [int, frac] = String(value).split('.');
  const sign = int!.startsWith('-') ? '-' : '';
  const digits = int!.replace('-', '');
  const grouped = format.groupSeparator
    ? digits.replace(/\B(?=(\d{3})+(?!\d))/g, format.groupSeparator)
    : digits;
  return `${sign}${grouped}${frac === undefined ? '' : `${format.decimalSeparator ?? '.'}${frac}`}`;
}

/** Inverts a value map (native → standard) for the encoding direction; duplicates are a bug in the map. */
export function invert(map: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(map)) {
    if (v in out) throw new Error(`value map is not invertible: ${v} has two native codes`);
    out[v] = k;
  }
  return out;
}
