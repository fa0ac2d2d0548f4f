/**
 * Property-based fuzzing of the standards' XML side (issue 9): the hardened parser
 * (gateway/xml/safe-parse.ts), the strict codec's fromElement and the zod validation, and the
 * standard-document reader adapters use — on every catalogued example, mutated, and on noise.
 * Whatever the bytes: a catalogued 4xx GatewayError or a result, in bounded time.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readStandardDocument } from '../../adapters/sdk/formats/standard-xml.ts';
import { decodeUtf8 } from '../../adapters/sdk/formats/text.ts';
import { GatewayError } from '../../gateway/errors/catalogue.ts';
import { parseXmlSafely, prescanXml } from '../../gateway/xml/safe-parse.ts';
import { catalogue } from '../../standards/index.ts';
import { fromElement, validateMessage } from '../../standards/xoev/xml-codec.ts';
import { hostileBytes } from './support/mutations.ts';
import { refusesCleanly } from './support/refuses-cleanly.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 250);

const examples = catalogue
  .standards()
  .flatMap((s) =>
    s.messageTypes.map((spec) => ({ spec, file: path.join(s.examplesDir, `${spec.name}.xml`) })),
  )
  .filter((e) => existsSync(e.file));

describe('standard XML: parse, fromElement and validate refuse hostile documents cleanly', () => {
  it('has examples to mutate', () => {
    expect(examples.length).toBeGreaterThanOrEqual(9);
  });

  for (const { spec, file } of examples) {
    const sample = readFileSync(file);
    it(`${spec.id}`, () => {
      fc.assert(
        fc.property(hostileBytes([sample]), (body) => {
          refusesCleanly(
            `${spec.id} fromElement`,
            () => {
              const root = parseXmlSafely(decodeUtf8(body)).documentElement!;
              validateMessage(spec, fromElement(spec, root));
            },
            body,
          );
        }),
        { numRuns: RUNS },
      );
    }, 120_000);
  }

  it('readStandardDocument (the kba-zfzr path) on any catalogued example, mutated', () => {
    const samples = examples.map((e) => readFileSync(e.file));
    fc.assert(
      fc.property(hostileBytes(samples), (body) => {
        refusesCleanly('readStandardDocument', () => readStandardDocument(body, () => true), body);
      }),
      { numRuns: RUNS * 2 },
    );
  }, 120_000);
});

describe('gateway/xml/safe-parse.ts', () => {
  it('arbitrary strings: a DOM or a catalogued 4xx GatewayError', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (xml) => {
        refusesCleanly('parseXmlSafely', () => parseXmlSafely(xml), xml);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('markup-shaped strings: a DOM or a catalogued 4xx GatewayError', () => {
    const piece = fc.constantFrom(
      '<a>',
      '</a>',
      '<b x="1">',
      '</b>',
      '<c/>',
      '<d y=\'2\' z="3"/>',
      'text',
      '&amp;',
      '&x;',
      '&#0;',
      '&#65;',
      '<!-- c -->',
      '<![CDATA[ < ]]>',
      '<?xml version="1.0"?>',
      '<?pi?>',
      '<!DOCTYPE a>',
      '<!ENTITY e "v">',
      '<!ELEMENT a ANY>',
      '<![INCLUDE[',
      ']]>',
      '"',
      "'",
      '<',
      '>',
      ' ',
      '\n',
      'xmlns="urn:x"',
      '<p:a xmlns:p="urn:p">',
      '</p:a>',
      '<q:a>',
      '\u2028',
      '\u0085',
      '\uFEFF',
      '\u0000',
      '\uD800',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 60 }), (pieces) => {
        const xml = pieces.join('');
        refusesCleanly('parseXmlSafely', () => parseXmlSafely(xml), xml);
      }),
      { numRuns: RUNS * 4 },
    );
  });

  it('depth, attribute count and size limits hold at any size', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 65, max: 20_000 }),
        fc.integer({ min: 65, max: 2_000 }),
        (depth, attributes) => {
          const deep = `${'<a>'.repeat(depth)}${'</a>'.repeat(depth)}`;
          expect(() => prescanXml(deep)).toThrow(GatewayError);
          const wide = `<a ${Array.from({ length: attributes }, (_, i) => `a${i}="v"`).join(' ')}/>`;
          expect(() => parseXmlSafely(wide)).toThrow(/attributes/);
        },
      ),
      { numRuns: 20 },
    );
  });
});
