/**
 * Reading native payloads field by field with the field's native path attached, so that every
 * mapping error names both the native field (`$.person.geschlecht`) and the standard field
 * (`/person/geschlecht/code`). Errors are collected, not thrown one by one: an integrator fixing a
 * payload sees all of them at once.
 */
import { type FieldError, GatewayError } from '../../gateway/errors/catalogue.ts';
import type { CodeList } from '../../standards/xoev/codelist.ts';

type Coded = { listURI: string; listVersionID: string; code: string };

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
    if (typeof value !== 'string' || value.trim() === '') {
      this.fail(
        nativeField,
        pointer,
        value === undefined || value === null ? 'is required' : 'must be a non-empty string',
      );
      return '';
    }
    return value.trim();
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

  /** `TT.MM.JJJJ` (German) or `JJJJ-MM-TT` (ISO) → ISO date, checking that the day exists. */
  date(value: unknown, nativeField: string, pointer: string, format: 'iso' | 'de'): string {
    const raw = this.text(value, nativeField, pointer);
    if (!raw) return '';
    const match =
      format === 'de' ? /^(\d{2})\.(\d{2})\.(\d{4})$/.exec(raw) : /^(\d{4})-(\d{2})-(\d{2})$/.exec(raw);
    const iso = match ? (format === 'de' ? `${match[3]}-${match[2]}-${match[1]}` : raw) : '';
    if (
      !iso ||
      Number.isNaN(Date.parse(`${iso}T00:00:00Z`)) ||
      !new Date(`${iso}T00:00:00Z`).toISOString().startsWith(iso)
    ) {
      this.fail(
        nativeField,
        pointer,
        `${JSON.stringify(raw)} is not a date in the form ${format === 'de' ? 'TT.MM.JJJJ' : 'JJJJ-MM-TT'}`,
      );
    }
    return iso;
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

/** ISO date → `TT.MM.JJJJ`. */
export function toGermanDate(iso: string): string {
  const [y, m, d] = iso.split('-');
  return `${d}.${m}.${y}`;
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
