/**
 * XBAföG 1.0's domain rules (Förderungsnummer, amounts, Länder, the takeover-or-refusal choice) are
 * enforced alike by the zod schema and by the XSD (xmllint), with the right error code and pointer —
 * as standards/domain-rules.test.ts does for the other standards.
 */
import { describe, expect, it } from 'vitest';
import type { MessageTypeSpec } from '../../catalogue.ts';
import { caught, exampleMessage, rootOf, xmllint } from '../../xoev/testing/helpers.ts';
import { fromElement, toCanonicalXml, validateMessage } from '../../xoev/xml-codec.ts';
import { abgabe0401, uebernahme0402, xbafoeg10 } from './index.ts';
import type { Uebernahme0402 } from './schema.ts';

interface Case {
  name: string;
  spec: MessageTypeSpec;
  /** Edits the canonical XML of the type's example. */
  edit: (xml: string) => string;
  code: 'GW_ERR_SCHEMA_INVALID' | 'GW_ERR_CODE_NOT_IN_LIST';
  pointer: string;
}

const canonical = (s: MessageTypeSpec) => toCanonicalXml(s, exampleMessage(s));
const ABLEHNUNG =
  '<ablehnung><grund listURI="urn:xoev-de:xbafoeg:codeliste:ablehnungsgrund" listVersionID="1"><code>01</code></grund></ablehnung>';

const CASES: Case[] = [
  {
    name: 'a Förderungsnummer of nine digits',
    spec: abgabe0401,
    edit: (x) => x.replace('<foerderungsnummer>146120047112<', '<foerderungsnummer>146120047<'),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/foerderungsnummer',
  },
  {
    name: 'a monthly amount without cents',
    spec: abgabe0401,
    edit: (x) => x.replace('<monatlicherBetrag>855.00<', '<monatlicherBetrag>855<'),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/monatlicherBetrag',
  },
  {
    name: 'a seventeenth Land',
    spec: abgabe0401,
    edit: (x) => x.replace('<code>16</code>', '<code>17</code>'),
    code: 'GW_ERR_CODE_NOT_IN_LIST',
    pointer: '/ausbildungsstaetteNeu/land/code',
  },
  {
    name: 'an unknown reason for the hand-over',
    spec: abgabe0401,
    edit: (x) => x.replace(/(<abgabegrund [^>]*><code>)01</, '$104<'),
    code: 'GW_ERR_CODE_NOT_IN_LIST',
    pointer: '/abgabegrund/code',
  },
  {
    name: 'a hand-over without the student',
    spec: abgabe0401,
    edit: (x) => x.replace(/<auszubildender>.*<\/auszubildender>/, ''),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/auszubildender',
  },
  {
    name: 'an answer that takes the file over and refuses it',
    spec: uebernahme0402,
    edit: (x) => x.replace('</uebernahme>', `</uebernahme>${ABLEHNUNG}`),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/entscheidung',
  },
  {
    name: 'an answer that neither takes the file over nor refuses it',
    spec: uebernahme0402,
    edit: (x) => x.replace(/<uebernahme>.*<\/uebernahme>/, ''),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/entscheidung',
  },
  {
    name: 'an answer without referenzUUID',
    spec: uebernahme0402,
    edit: (x) => x.replace(/<referenzUUID>[^<]*<\/referenzUUID>/, ''),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/nachrichtenkopf.g2g/referenzUUID',
  },
  {
    name: 'a refusal with a reason not on the list',
    spec: uebernahme0402,
    edit: (x) =>
      x.replace(/<uebernahme>.*<\/uebernahme>/, ABLEHNUNG.replace('<code>01</code>', '<code>05</code>')),
    code: 'GW_ERR_CODE_NOT_IN_LIST',
    pointer: '/entscheidung/ablehnung/grund/code',
  },
];

describe('XBAföG 1.0 domain rules: zod and the XSD agree', () => {
  it('every edit changes the document', () => {
    for (const c of CASES) expect(c.edit(canonical(c.spec)), c.name).not.toBe(canonical(c.spec));
  });

  it.each(CASES)('$name', ({ spec, edit, code, pointer }) => {
    const error = caught(() => validateMessage(spec, fromElement(spec, rootOf(edit(canonical(spec))))));
    expect(error.code).toBe(code);
    expect(error.errors.map((e) => e.pointer)).toContain(pointer);
  });

  it('xmllint refuses every one of them too', () => {
    const { valid, output } = xmllint(
      xbafoeg10.xsdPath,
      CASES.map((c) => c.edit(canonical(c.spec))),
    );
    expect(valid, output).toEqual(CASES.map(() => false));
  });

  it('a refusal is a valid answer, with or without a reason in words', () => {
    const refusal = canonical(uebernahme0402).replace(/<uebernahme>.*<\/uebernahme>/, ABLEHNUNG);
    const message = validateMessage(
      uebernahme0402,
      fromElement(uebernahme0402, rootOf(refusal)),
    ) as unknown as Uebernahme0402;
    expect(message.entscheidung).toEqual({
      ablehnung: { grund: expect.objectContaining({ code: '01' }) },
    });
    expect(xmllint(xbafoeg10.xsdPath, [refusal]).valid).toEqual([true]);
  });

  it('a Bewilligungszeitraum that ends before it begins is refused by zod (XSD 1.0 cannot compare two dates)', () => {
    const xml = canonical(abgabe0401).replace('<ende>2027-03-31<', '<ende>2026-03-31<');
    const error = caught(() => validateMessage(abgabe0401, fromElement(abgabe0401, rootOf(xml))));
    expect(error.code).toBe('GW_ERR_SCHEMA_INVALID');
    expect(error.errors.map((e) => e.pointer)).toContain('/bewilligungszeitraum/ende');
  });
});
