/**
 * CSV as Länder systems export it: a header line, a configurable separator (`;` in German Excel
 * exports), RFC 4180 quoting (a quoted field may hold separators, doubled quotes and line breaks),
 * and a single-byte charset. Strict: a stray quote, an unclosed quote, a line with too many or too
 * few fields or a header with unknown or missing columns is an error naming the line.
 */
import { GatewayError } from '../../../gateway/errors/catalogue.ts';
import { type Charset, decodeText, encodeText, unrepresentable, withCharset } from './charset.ts';
import type { NativeFormat, NativeRecord, NativeTree } from './native-format.ts';

export interface CsvDialect {
  separator: ';' | ',' | '\t' | '|';
  /** Default `"`. */
  quote?: '"' | "'";
  charset: Charset;
  /** Written line ending; both are read. Default CRLF, as RFC 4180 and Windows have it. */
  lineEnding?: '\r\n' | '\n';
}

export interface CsvRow {
  /** 1-based physical line on which the row starts. */
  line: number;
  fields: string[];
}

function malformed(line: number, detail: string, column?: string): GatewayError {
  const where = column ? `line ${line}, column ${column}` : `line ${line}`;
  return new GatewayError('GW_ERR_MALFORMED_PAYLOAD', `${where}: ${detail}`, {
    errors: [{ pointer: '', nativeField: where, detail }],
  });
}

/** Splits CSV text into rows of raw fields. Blank lines are skipped. */
export function parseCsvRows(text: string, dialect: Pick<CsvDialect, 'separator' | 'quote'>): CsvRow[] {
  const sep = dialect.separator;
  const quote = dialect.quote ?? '"';
  const rows: CsvRow[] = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const startLine = line;
    const fields: string[] = [];
    let field = '';
    let quoted = false;
    let afterQuote = false;
    let fieldStart = true;
    for (;;) {
      if (i >= text.length) {
        if (quoted) throw malformed(startLine, `a quoted field (field ${fields.length + 1}) is not closed`);
        fields.push(field);
        break;
      }
      const c = text[i]!;
      if (quoted) {
        if (c === quote) {
          if (text[i + 1] === quote) {
            field += quote;
            i += 2;
            continue;
          }
          quoted = false;
          afterQuote = true;
          i++;
          continue;
        }
        if (c === '\n') line++;
        field += c;
        i++;
        continue;
      }
      if (c === sep) {
        fields.push(field);
        field = '';
        afterQuote = false;
        fieldStart = true;
        i++;
        continue;
      }
      if (c === '\n' || c === '\r') {
        fields.push(field);
        i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
        line++;
        break;
      }
      if (afterQuote)
        throw malformed(
          line,
          `unexpected ${JSON.stringify(c)} after the closing quote of field ${fields.length + 1}`,
        );
      if (c === quote) {
        if (!fieldStart) throw malformed(line, `stray quote inside unquoted field ${fields.length + 1}`);
        quoted = true;
        fieldStart = false;
        i++;
        continue;
      }
      field += c;
      fieldStart = false;
      i++;
    }
    if (!(fields.length === 1 && fields[0] === '' && !afterQuote)) rows.push({ line: startLine, fields });
  }
  return rows;
}

function needsQuotes(value: string, dialect: CsvDialect): boolean {
  const quote = dialect.quote ?? '"';
  return (
    value.includes(dialect.separator) ||
    value.includes(quote) ||
    value.includes('\n') ||
    value.includes('\r') ||
    value !== value.trim()
  );
}

function quoteField(value: string, dialect: CsvDialect): string {
  const quote = dialect.quote ?? '"';
  return needsQuotes(value, dialect) ? `${quote}${value.replaceAll(quote, quote + quote)}${quote}` : value;
}

export interface CsvTable {
  header: string[];
  rows: { line: number; values: Record<string, string> }[];
}

/**
 * Decodes and parses a CSV file whose first line names the columns. Every column of `columns`
 * must be in the header, and the header may name no other; every row has as many fields as the header.
 */
export function parseCsv(body: Buffer, dialect: CsvDialect, columns: readonly string[]): CsvTable {
  const rows = parseCsvRows(decodeText(body, dialect.charset), dialect);
  const head = rows.shift();
  if (!head) throw malformed(1, 'the file is empty; expected a header line');
  const header = head.fields.map((f) => f.trim());
  const known = new Set(columns);
  const unknown = header.filter((h) => !known.has(h));
  if (unknown.length > 0)
    throw malformed(head.line, `unknown column(s) in the header: ${unknown.join(', ')}`);
  const missing = columns.filter((c) => !header.includes(c));
  if (missing.length > 0)
    throw malformed(head.line, `column(s) missing from the header: ${missing.join(', ')}`);
  if (rows.length === 0) throw malformed(head.line + 1, 'the file has a header but no records');
  return {
    header,
    rows: rows.map((row) => {
      if (row.fields.length !== header.length) {
        throw malformed(row.line, `${row.fields.length} fields, but the header has ${header.length} columns`);
      }
      const values: Record<string, string> = {};
      header.forEach((h, i) => {
        values[h] = row.fields[i]!;
      });
      return { line: row.line, values };
    }),
  };
}

/** Writes a header line and one line per row; refuses characters the charset cannot carry, naming the column. */
export function writeCsv(
  columns: readonly string[],
  rows: readonly Record<string, string | undefined>[],
  dialect: CsvDialect,
): Buffer {
  const eol = dialect.lineEnding ?? '\r\n';
  const lines = [columns.map((c) => quoteField(c, dialect)).join(dialect.separator)];
  rows.forEach((row, r) => {
    lines.push(
      columns
        .map((column) => {
          const value = row[column] ?? '';
          const bad = unrepresentable(value, dialect.charset);
          if (bad !== undefined) {
            throw new GatewayError(
              'GW_ERR_MAPPING_FAILED',
              `record ${r + 1}, column ${column}: ${JSON.stringify(bad)} cannot be written in ${dialect.charset}`,
              {
                errors: [
                  {
                    pointer: '',
                    nativeField: `column ${column}`,
                    detail: `not representable in ${dialect.charset}`,
                  },
                ],
              },
            );
          }
          return quoteField(value, dialect);
        })
        .join(dialect.separator),
    );
  });
  return encodeText(`${lines.join(eol)}${eol}`, dialect.charset);
}

export function csvField(line: number, column: string): string {
  return `line ${line}, column ${column}`;
}

/**
 * A batch CSV file: one message per line; `columns` in the order they are written. Every value
 * reaches the mapping as text (empty = absent).
 */
export function csvFormat(options: { dialect: CsvDialect; columns: readonly string[] }): NativeFormat {
  const { dialect, columns } = options;
  const separatorName = dialect.separator === '\t' ? 'tab' : dialect.separator;
  return {
    describe: `CSV (${dialect.charset}, separator ${separatorName}, header line), one message per line`,
    contentTypes: ['text/csv'],
    charset: dialect.charset,
    read(body): NativeRecord[] {
      return parseCsv(body, dialect, columns).rows.map((row) => ({
        tree: row.values,
        ref: `line ${row.line}`,
        nativeName: (path) => csvField(row.line, path),
      }));
    },
    write(trees) {
      const rows = trees.map((tree: NativeTree) => {
        const row: Record<string, string | undefined> = {};
        for (const [key, value] of Object.entries(tree)) {
          if (!columns.includes(key))
            throw new Error(`csvFormat: the mapping writes ${key}, which is not a column`);
          row[key] = value === undefined ? undefined : String(value);
        }
        return row;
      });
      return {
        contentType: withCharset('text/csv', dialect.charset),
        body: writeCsv(columns, rows, dialect),
      };
    },
    outputName: (path) => `column ${path}`,
  };
}
