/**
 * Property-based fuzzing of the native format decoders one by one (issue 9): JSON, CSV (every
 * separator and quote, every charset), fixed-width (record types, numeric fields, every charset),
 * the charset decoder itself and the XML dialect reader. Whatever the bytes: a result or a
 * catalogued 4xx GatewayError, in bounded time.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Charset, decodeText } from '../../adapters/sdk/formats/charset.ts';
import { csvFormat } from '../../adapters/sdk/formats/csv.ts';
import { fixedWidthFormat, sequentialLayout } from '../../adapters/sdk/formats/fixed-width.ts';
import { jsonFormat, MAX_JSON_DEPTH, parseJson } from '../../adapters/sdk/formats/json.ts';
import { parseXmlDialect, xmlDialectFormat } from '../../adapters/sdk/formats/xml-dialect.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import type { GatewayError } from '../../gateway/errors/catalogue.ts';
import { hostileBytes } from './support/mutations.ts';
import { refusesCleanly } from './support/refuses-cleanly.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 250);
const CHARSETS: Charset[] = ['utf-8', 'windows-1252', 'iso-8859-1'];
const fixture = (adapter: string, file: string) =>
  readFileSync(path.join(REPO_ROOT, 'adapters', adapter, 'fixtures', file));

describe('native format decoders refuse hostile bytes cleanly', () => {
  it('JSON', () => {
    const samples = [
      fixture('sn-melde', '0201-umzug-magdeburg-dresden.native.json'),
      fixture('elterngeld-online', '0101-antrag-jena.native.json'),
      Buffer.from(`${'['.repeat(10_000)}${']'.repeat(10_000)}`),
      Buffer.from(`${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`),
    ];
    const format = jsonFormat();
    fc.assert(
      fc.property(hostileBytes(samples), (body) =>
        refusesCleanly('json.read', () => format.read(body), body),
      ),
      { numRuns: RUNS },
    );
  });

  it('CSV, every dialect and charset', () => {
    const sample = fixture('th-melde', '0201-nachtlauf-erfurt-jena-weimar.native.csv');
    const columns = sample.toString('latin1').split(/\r?\n/)[0]!.split(';');
    const small = Buffer.from('A;B;C\r\n1;"x;""y""";3\r\n"multi\r\nline";2;\r\n');
    fc.assert(
      fc.property(
        hostileBytes([sample, small]),
        fc.constantFrom(';', ',', '\t', '|' as const),
        fc.constantFrom('"', "'" as const),
        fc.constantFrom(...CHARSETS),
        fc.boolean(),
        (body, separator, quote, charset, bigHeader) => {
          const format = csvFormat({
            dialect: { separator: separator as ';', quote: quote as '"', charset },
            columns: bigHeader ? columns : ['A', 'B', 'C'],
          });
          refusesCleanly('csv.read', () => format.read(body), body);
        },
      ),
      { numRuns: RUNS * 2 },
    );
  });

  it('fixed-width, with record types and numeric fields, every charset', () => {
    const zulassung = sequentialLayout('ZULASSUNG', [
      ['SATZART', 2, 'alpha'],
      ['ID', 8, 'alpha'],
      ['DATUM', 8, 'numeric'],
      ['NAME', 20, 'alpha'],
    ]);
    const wechsel = sequentialLayout('WECHSEL', [
      ['SATZART', 2, 'alpha'],
      ['NR', 5, 'numeric'],
      ['ORT', 10, 'alpha'],
    ]);
    const small = Buffer.from(
      `10ABCD-12320261104${'Müller'.padEnd(20)}\r\n2012345${'Leipzig'.padEnd(10)}\r\n`,
      'latin1',
    );
    const real = [
      fixture('sn-kfz', '1001-zulassung-leipzig.native.txt'),
      fixture('sn-kfz', 'batch-nachtlauf.native.txt'),
    ];
    fc.assert(
      fc.property(hostileBytes([small, ...real]), fc.constantFrom(...CHARSETS), (body, charset) => {
        const format = fixedWidthFormat({
          charset,
          layouts: [zulassung, wechsel],
          recordType: { start: 1, length: 2, values: { '10': 'ZULASSUNG', '20': 'WECHSEL' } },
          typeField: 'SATZART',
        });
        refusesCleanly('fixedWidth.read', () => format.read(body), body);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('the charset decoder on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.constantFrom(...CHARSETS), (bytes, charset) => {
        const body = Buffer.from(bytes);
        refusesCleanly(`decodeText(${charset})`, () => decodeText(body, charset), body);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('XML dialect, as st-melde and th-kfz read it', () => {
    const samples = [
      fixture('st-melde', '0201-umzug-leipzig-halle.native.xml'),
      fixture('th-kfz', '1001-zulassung-erfurt.native.xml'),
      Buffer.from(`${'<a>'.repeat(10_000)}${'</a>'.repeat(10_000)}`),
      Buffer.from(`<MeldeVorgang ${Array.from({ length: 2_000 }, (_, i) => `a${i}="x"`).join(' ')}/>`),
    ];
    fc.assert(
      fc.property(
        hostileBytes(samples),
        fc.constantFrom('MeldeVorgang', 'Zulassungsvorgang'),
        (body, root) => {
          const format = xmlDialectFormat({ root, arrays: ['Staatsang', 'Vorname'] });
          refusesCleanly('xmlDialect.read', () => format.read(body), body);
        },
      ),
      { numRuns: RUNS * 2 },
    );
  });
});

describe('what the fuzzers and the corpus found (regressions)', () => {
  it('an XML dialect document cut right after the slash of a self-closing tag is malformed, not a crash', () => {
    // fast-xml-parser's validator accepted these and its parser then threw a plain Error (a 500).
    for (const text of ['<M/', '<M a="x"/', '<MeldeVorgang a0="x" a1="x"/']) {
      expect(() => parseXmlDialect(Buffer.from(text))).toThrow(
        expect.objectContaining({ code: 'GW_ERR_MALFORMED_PAYLOAD' }) as unknown as GatewayError,
      );
    }
  });

  it('JSON nested deeper than the limit is refused before parsing, wherever it sits', () => {
    const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
    expect(parseJson(Buffer.from(nested(MAX_JSON_DEPTH)))).toBeInstanceOf(Array);
    for (const text of [
      nested(MAX_JSON_DEPTH + 1),
      `{"a": 1, "unmapped": ${nested(10_000)}}`,
      `{"a": ${'{"b":'.repeat(10_000)}1${'}'.repeat(10_000)}}`,
    ]) {
      expect(() => parseJson(Buffer.from(text))).toThrow(/nesting deeper than 64/);
    }
    // Brackets inside strings (escaped quotes included) do not count.
    expect(parseJson(Buffer.from(JSON.stringify({ a: '['.repeat(1000), b: '\\"[[[' })))).toMatchObject({
      a: '['.repeat(1000),
    });
  });
});
