/**
 * Fixed-width records, as mainframe systems write them: one record per line, every field at a
 * fixed position. A record layout lists the fields (name, 1-based start column, length, type);
 * files with several record kinds select the layout by a record-type field (`Satzart`).
 *
 * Types: `alpha` fields are left-aligned and space-padded (read trimmed); `numeric` fields are
 * digits, right-aligned and zero-padded (read as the digit string, so leading zeros of a PLZ or AGS
 * survive), blank when absent. A short line is an error naming the line and the first field that
 * does not fit; so is a long line, a non-digit in a numeric field, or an unknown record type.
 */
import { GatewayError } from '../../../gateway/errors/catalogue.ts';
import { type Charset, decodeText, encodeText, withCharset } from './charset.ts';
import type { NativeFormat, NativeRecord, NativeTree } from './native-format.ts';

export type FieldType = 'alpha' | 'numeric';

export interface FieldSpec {
  name: string;
  /** 1-based column of the first character. */
  start: number;
  length: number;
  type: FieldType;
}

export interface RecordLayout {
  name: string;
  fields: readonly FieldSpec[];
  /** Characters per record: the end of the last field. */
  length: number;
}

/** Checks a layout once, when the adapter is loaded: fields in order, none overlapping, positive lengths. */
export function recordLayout(name: string, fields: readonly FieldSpec[]): RecordLayout {
  let end = 0;
  const names = new Set<string>();
  for (const f of fields) {
    if (names.has(f.name)) throw new Error(`layout ${name}: field ${f.name} is listed twice`);
    names.add(f.name);
    if (!Number.isInteger(f.start) || !Number.isInteger(f.length) || f.start < 1 || f.length < 1)
      throw new Error(`layout ${name}: field ${f.name} needs a start ≥ 1 and a length ≥ 1`);
    if (f.start <= end) throw new Error(`layout ${name}: field ${f.name} overlaps the field before it`);
    end = f.start + f.length - 1;
  }
  return { name, fields, length: end };
}

/**
 * A layout written as the field list of a record description (name, length, type), fields one
 * after another from column 1: the start columns are computed, so inserting a field cannot leave
 * the ones after it pointing at the wrong columns.
 */
export function sequentialLayout(name: string, fields: readonly [string, number, FieldType][]): RecordLayout {
  let start = 1;
  return recordLayout(
    name,
    fields.map(([field, length, type]) => {
      const spec = { name: field, start, length, type };
      start += length;
      return spec;
    }),
  );
}

function columns(f: FieldSpec): string {
  return `columns ${f.start}-${f.start + f.length - 1}`;
}

export function fixedField(line: number, layout: RecordLayout, name: string): string {
  const f = layout.fields.find((x) => x.name === name);
  return f ? `line ${line}, field ${name} (${columns(f)})` : `line ${line}, field ${name}`;
}

function malformed(where: string, detail: string): GatewayError {
  return new GatewayError('GW_ERR_MALFORMED_PAYLOAD', `${where}: ${detail}`, {
    errors: [{ pointer: '', nativeField: where, detail }],
  });
}

export interface FixedWidthOptions {
  charset: Charset;
  /** One layout, or several told apart by the record-type field at `recordType`. */
  layouts: readonly RecordLayout[];
  /** Where the record type sits (same place in every layout) and which value selects which layout. */
  recordType?: { start: number; length: number; values: Record<string, string> };
  /** Written line ending; both are read. Default CRLF. */
  lineEnding?: '\r\n' | '\n';
}

export interface FixedRecord {
  line: number;
  layout: RecordLayout;
  values: Record<string, string>;
}

function layoutFor(text: string, line: number, options: FixedWidthOptions): RecordLayout {
  if (!options.recordType) return options.layouts[0]!;
  const { start, length, values } = options.recordType;
  const code = text.slice(start - 1, start - 1 + length);
  const name = values[code];
  const layout = options.layouts.find((l) => l.name === name);
  if (!layout) {
    throw malformed(
      `line ${line}, columns ${start}-${start + length - 1}`,
      `unknown record type ${JSON.stringify(code)}; expected ${Object.keys(values)
        .map((v) => JSON.stringify(v))
        .join(' or ')}`,
    );
  }
  return layout;
}

/** Decodes and splits a fixed-width file into records; blank lines are skipped. */
export function parseFixedWidth(body: Buffer, options: FixedWidthOptions): FixedRecord[] {
  const lines = decodeText(body, options.charset).split(/\r?\n/);
  const records: FixedRecord[] = [];
  lines.forEach((text, index) => {
    const line = index + 1;
    if (text.trim() === '') return;
    const layout = layoutFor(text, line, options);
    const values: Record<string, string> = {};
    for (const f of layout.fields) {
      const end = f.start - 1 + f.length;
      if (text.length < end) {
        throw malformed(
          fixedField(line, layout, f.name),
          `the line ends at column ${text.length}; a ${layout.name} record is ${layout.length} characters long`,
        );
      }
      const raw = text.slice(f.start - 1, end);
      if (f.type === 'numeric' && raw.trim() !== '' && !/^\d+$/.test(raw)) {
        throw malformed(fixedField(line, layout, f.name), `${JSON.stringify(raw)} is not numeric`);
      }
      values[f.name] = raw.trim();
    }
    if (text.length > layout.length) {
      throw malformed(
        `line ${line}`,
        `${text.length} characters; a ${layout.name} record is ${layout.length} characters long`,
      );
    }
    records.push({ line, layout, values });
  });
  return records;
}

/** One record as a line: pads every field; a value that does not fit is an error naming the field. */
export function formatRecord(layout: RecordLayout, values: Record<string, string | undefined>): string {
  let out = '';
  for (const f of layout.fields) {
    out = out.padEnd(f.start - 1, ' ');
    const value = values[f.name] ?? '';
    if (value.length > f.length) {
      throw new GatewayError(
        'GW_ERR_MAPPING_FAILED',
        `field ${f.name} (${columns(f)}) holds ${f.length} characters; the value has ${value.length}`,
        {
          errors: [
            { pointer: '', nativeField: `field ${f.name}`, detail: `longer than ${f.length} characters` },
          ],
        },
      );
    }
    if (/[\r\n]/.test(value))
      throw new GatewayError('GW_ERR_MAPPING_FAILED', `field ${f.name}: a record cannot hold a line break`);
    if (f.type === 'numeric' && value !== '' && !/^\d+$/.test(value))
      throw new GatewayError(
        'GW_ERR_MAPPING_FAILED',
        `field ${f.name}: ${JSON.stringify(value)} is not numeric`,
      );
    out += f.type === 'numeric' && value !== '' ? value.padStart(f.length, '0') : value.padEnd(f.length, ' ');
  }
  return out;
}

export function writeFixedWidth(
  records: readonly { layout: RecordLayout; values: Record<string, string | undefined> }[],
  options: FixedWidthOptions,
): Buffer {
  const eol = options.lineEnding ?? '\r\n';
  return encodeText(records.map((r) => formatRecord(r.layout, r.values) + eol).join(''), options.charset);
}

/**
 * A fixed-width batch file, one message per record. `layoutOf` picks the layout for a tree to
 * write (by its record-type field); with one layout it is that one.
 */
export function fixedWidthFormat(options: FixedWidthOptions & { typeField?: string }): NativeFormat {
  const layoutOf = (tree: NativeTree): RecordLayout => {
    if (!options.recordType || !options.typeField) return options.layouts[0]!;
    const name = options.recordType.values[String(tree[options.typeField] ?? '')];
    const layout = options.layouts.find((l) => l.name === name);
    if (!layout)
      throw new Error(`fixedWidthFormat: no layout for record type ${String(tree[options.typeField])}`);
    return layout;
  };
  return {
    describe: `fixed-width records (${options.charset}): ${options.layouts.map((l) => `${l.name} ${l.length} characters`).join(', ')}`,
    contentTypes: ['text/plain'],
    charset: options.charset,
    read(body): NativeRecord[] {
      return parseFixedWidth(body, options).map((r) => ({
        tree: r.values,
        ref: `line ${r.line}`,
        nativeName: (path) => fixedField(r.line, r.layout, path),
      }));
    },
    write(trees) {
      const records = trees.map((tree) => {
        const layout = layoutOf(tree);
        const values: Record<string, string | undefined> = {};
        for (const [key, value] of Object.entries(tree)) {
          if (!layout.fields.some((f) => f.name === key))
            throw new Error(
              `fixedWidthFormat: the mapping writes ${key}, which is not a field of ${layout.name}`,
            );
          values[key] = value === undefined ? undefined : String(value);
        }
        return { layout, values };
      });
      return {
        contentType: withCharset('text/plain', options.charset),
        body: writeFixedWidth(records, options),
      };
    },
    outputName: (path) => `field ${path}`,
  };
}
