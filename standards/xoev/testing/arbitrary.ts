/**
 * fast-check arbitraries for catalogued messages, derived from the zod schema (test code only:
 * imports fast-check, a dev dependency). Code-list fields draw from their list, strings respect the
 * schema's length and pattern checks, free text is deliberately nasty for XML (markup characters,
 * tabs, CR/LF, umlauts, astral characters). Every generated value is filtered through the schema, so
 * it is always valid.
 */
import fc from 'fast-check';
import { z } from 'zod';
import type { MessageTypeSpec, XoevMessage } from '../../catalogue.ts';
import { type CodeList, loadedCodeLists } from '../codelist.ts';
import { DATUM, ZEITPUNKT } from '../nachrichtenkopf.ts';

interface AnySchema {
  _zod: {
    def: Record<string, unknown> & { type: string; checks?: { _zod: { def: Record<string, unknown> } }[] };
  };
  safeParse(value: unknown): { success: boolean };
}

export interface ArbitraryOptions {
  /** Arbitraries for particular schema objects (by identity), e.g. the header's nachrichtentyp code. */
  overrides?: Map<unknown, fc.Arbitrary<unknown>>;
  /** Longest free text generated (code units); shorter than the schema's maximum keeps runs fast. */
  maxTextLength?: number;
}

const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
/** Refused by validation (xml-codec.ts PARSER_NORMALISED_CHAR); generated only where a test asks for them. */
export const PARSER_NORMALISED_CHARS = ['\u0085', '\u2028', '\u2029'] as const;
/** Refused by validation too: what a decoder leaves for a lost character (see xml-codec.ts). */
export const REFUSED_CHARS: readonly string[] = [...PARSER_NORMALISED_CHARS, '\uFFFD'];

/** One "character" of free text: mostly letters, often something XML has to escape. */
export const xmlTextUnit: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'ä',
      'ö',
      'ü',
      'ß',
      'Ä',
      'Ö',
      'Ü',
      'é',
      'ł',
      'ș',
      '–',
      '„',
      '“',
      '€',
      '\u00a0',
    ),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '&',
      '<',
      '>',
      '"',
      "'",
      '\t',
      '\n',
      '\r',
      '\r\n',
      ' ',
      ']]>',
      '&amp;',
      '&#xD;',
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom('😀', '𝔘', '\u{10FFFD}', '\uFFFC', '\uE000', '\uD7FF') },
  {
    weight: 1,
    arbitrary: fc
      .string({ unit: 'binary', minLength: 1, maxLength: 1 })
      .filter((c) => !NOT_XML_CHAR.test(c) && !REFUSED_CHARS.includes(c)),
  },
);

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** xs:date values over the whole range xs:date and JavaScript share (0001–9999). */
export const datum: fc.Arbitrary<string> = fc
  .date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T00:00:00Z'), noInvalidDate: true })
  .map((d) => d.toISOString().slice(0, 10));

/** erstellungszeitpunkt values: any instant, written in UTC (`Z`) or with an offset within ±14:00. */
export const zeitpunkt: fc.Arbitrary<string> = fc
  .tuple(
    fc.date({
      min: new Date('0001-01-02T00:00:00Z'),
      max: new Date('9999-12-30T00:00:00Z'),
      noInvalidDate: true,
    }),
    fc.option(fc.integer({ min: -14 * 60, max: 14 * 60 })),
  )
  .map(([d, offset]) => {
    if (offset === null) return d.toISOString();
    const local = new Date(d.getTime() + offset * 60_000).toISOString().slice(0, 23);
    const a = Math.abs(offset);
    return `${local}${offset < 0 ? '-' : '+'}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
  });

function codeListOf(schema: AnySchema): CodeList | undefined {
  const uri = (z.globalRegistry.get(schema as unknown as z.ZodType) as { codeList?: string } | undefined)
    ?.codeList;
  return uri ? loadedCodeLists().find((l) => l.listURI === uri) : undefined;
}

function stringArbitrary(schema: AnySchema, options: ArbitraryOptions): fc.Arbitrary<string> {
  let min = 0;
  let max = Number.POSITIVE_INFINITY;
  let pattern: RegExp | undefined;
  for (const check of schema._zod.def.checks ?? []) {
    const d = check._zod.def;
    if (d.check === 'min_length') min = Math.max(min, d.minimum as number);
    else if (d.check === 'max_length') max = Math.min(max, d.maximum as number);
    else if (d.check === 'length_equals') min = max = d.length as number;
    else if (d.check === 'string_format' && d.format === 'regex') pattern = d.pattern as RegExp;
  }
  const base = pattern
    ? fc.stringMatching(pattern)
    : fc.string({
        unit: xmlTextUnit,
        minLength: min,
        maxLength: Math.max(min, Math.min(max, options.maxTextLength ?? 24)),
      });
  return base.filter((s) => schema.safeParse(s).success);
}

const MAX_GENERATED_ITEMS = 6;

/** Integers within the schema's bounds draw from fc.integer; other numbers from doubles. */
function numberArbitrary(schema: AnySchema): fc.Arbitrary<number> {
  let integer = false;
  let min: number | undefined;
  let max: number | undefined;
  for (const check of schema._zod.def.checks ?? []) {
    const d = check._zod.def;
    if (d.check === 'number_format' && (d.format === 'safeint' || d.format === 'int32')) integer = true;
    else if (d.check === 'greater_than') min = (d.value as number) + (d.inclusive ? 0 : integer ? 1 : 0);
    else if (d.check === 'less_than') max = (d.value as number) - (d.inclusive ? 0 : integer ? 1 : 0);
  }
  const base = integer
    ? fc.integer({ min: min ?? Number.MIN_SAFE_INTEGER, max: max ?? Number.MAX_SAFE_INTEGER })
    : fc.double({ noNaN: true, noDefaultInfinity: true, min, max });
  return base.filter((n) => schema.safeParse(n).success);
}

/** An arbitrary producing values the schema accepts. */
export function arbitraryFor(schema: unknown, options: ArbitraryOptions = {}): fc.Arbitrary<unknown> {
  const s = schema as AnySchema;
  const override = options.overrides?.get(schema);
  if (override) return override;
  if (schema === DATUM) return datum;
  if (schema === ZEITPUNKT) return zeitpunkt;
  const def = s._zod.def;
  switch (def.type) {
    case 'object': {
      const shape = def.shape as Record<string, AnySchema>;
      const list = codeListOf(s);
      const model: Record<string, fc.Arbitrary<unknown>> = {};
      const requiredKeys: string[] = [];
      for (const [key, field] of Object.entries(shape)) {
        let inner = field;
        if (inner._zod.def.type === 'optional') inner = inner._zod.def.innerType as AnySchema;
        else requiredKeys.push(key);
        if (list && key === 'code') model[key] = fc.constantFrom(...list.codes.map((c) => c.code));
        else if (list && key === 'name')
          model[key] = fc.oneof(
            fc.string({ unit: xmlTextUnit, maxLength: 12 }),
            fc.constantFrom(...list.codes.map((c) => c.name)),
          );
        else model[key] = arbitraryFor(inner, options);
      }
      return fc.record(model, { requiredKeys }).filter((v) => s.safeParse(v).success);
    }
    case 'optional':
      return fc.option(arbitraryFor(def.innerType, options), { nil: undefined });
    case 'array': {
      let minLength = 0;
      let maxLength = 5;
      for (const check of def.checks ?? []) {
        const d = check._zod.def;
        if (d.check === 'min_length') minLength = d.minimum as number;
        if (d.check === 'max_length') maxLength = d.maximum as number;
      }
      // Long lists (32 months of Elterngeld) only slow the runs down; their bounds are tested by example.
      maxLength = Math.min(maxLength, Math.max(minLength, MAX_GENERATED_ITEMS));
      return fc.array(arbitraryFor(def.element, options), { minLength, maxLength });
    }
    case 'literal':
      return fc.constantFrom(...(def.values as unknown[]));
    case 'enum':
      return fc.constantFrom(...Object.values(def.entries as object));
    case 'boolean':
      return fc.boolean();
    case 'number':
      return numberArbitrary(s);
    case 'string':
      return stringArbitrary(s, options);
    default:
      throw new Error(`arbitraryFor: zod type ${def.type} is not supported`);
  }
}

/**
 * Valid messages of a message type: the schema's arbitrary with the header's nachrichtentyp pinned
 * to the type's own code (validateMessage checks that).
 */
export function messageArbitrary(
  spec: MessageTypeSpec,
  options: ArbitraryOptions = {},
): fc.Arbitrary<XoevMessage> {
  return arbitraryFor(spec.schema, options).map((value) => {
    const m = value as XoevMessage;
    const kopf = m['nachrichtenkopf.g2g'];
    const id = kopf['identifikation.nachricht'];
    return {
      ...m,
      'nachrichtenkopf.g2g': {
        ...kopf,
        'identifikation.nachricht': { ...id, nachrichtentyp: { ...id.nachrichtentyp, code: spec.code } },
      },
    };
  });
}
