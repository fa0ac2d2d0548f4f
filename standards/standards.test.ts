/**
 * The standards catalogue: examples, XSDs, the XML codec and validation agree with each other and
 * with independent implementations (xmllint for the XSDs, xmldsigjs for exclusive canonicalization).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DOMParser, XMLSerializer } from '@xmldom/xmldom';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { setNodeDependencies } from 'xml-core';
import { XmlCanonicalizer } from 'xmldsigjs';
import * as xpath from 'xpath';
import { z } from 'zod';
import type { MessageTypeSpec, StandardVersion, XoevMessage } from './catalogue.ts';
import { catalogue } from './index.ts';
import { auswertung0203, rueckmeldung0201, xmeld2511 } from './xmeld/25.11/index.ts';
import { LISTS, type Rueckmeldung0201 } from './xmeld/25.11/schema.ts';
import { XML_ATTRIBUTE } from './xoev/codelist.ts';
import { header, messageId, newHeader } from './xoev/message.ts';
import { messageArbitrary } from './xoev/testing/arbitrary.ts';
import {
  caught,
  exampleMessage,
  exampleXml,
  expectAllValid,
  parse,
  rootOf,
  versionOf,
  xmllint,
} from './xoev/testing/helpers.ts';
import {
  fromElement,
  jsonPointer,
  toCanonicalXml,
  validateMessage,
  XMLDSIG_NAMESPACE,
} from './xoev/xml-codec.ts';

setNodeDependencies({ DOMParser, XMLSerializer, xpath });

const HERE = path.dirname(fileURLToPath(import.meta.url));
const VERSIONS: StandardVersion[] = catalogue.standards();
const SPECS: MessageTypeSpec[] = VERSIONS.flatMap((v) => v.messageTypes);

// ------------------------------------------------------------------------------------------- helpers

/** xmldsigjs's exclusive canonicalization (without comments) of a node. */
function excC14n(node: Node): string {
  return new XmlCanonicalizer(false, true).Canonicalize(node as never);
}

/** Removes whitespace-only text between elements (the indentation of a pretty-printed document). */
function stripIndentation(node: Node): void {
  const children = [...(node.childNodes as unknown as Node[])];
  const elementOnly = children.some((c) => c.nodeType === 1);
  for (const c of children) {
    if (c.nodeType === 1) stripIndentation(c);
    else if (elementOnly && c.nodeType === 3 && /^[ \t\r\n]*$/.test(c.nodeValue ?? '')) node.removeChild(c);
  }
}

const XSD = xmeld2511.xsdPath;
/** Random documents per message type and run; every one also goes through xmllint. */
const RUNS = 200;

// ------------------------------------------------------------------------------------------- catalogue

describe('catalogue', () => {
  it('registers xmeld 25.05 and 25.11, xkfz 1.4, xelterngeld 1.2 and xbafoeg 1.0', () => {
    expect(VERSIONS.map((v) => `${v.standard} ${v.version}`)).toEqual([
      'xmeld 25.05',
      'xmeld 25.11',
      'xkfz 1.4',
      'xelterngeld 1.2',
      'xbafoeg 1.0',
    ]);
    for (const v of VERSIONS) {
      expect(v.namespace).toBe(`urn:xoev-de:${v.standard}:${v.version}`);
      expect(path.isAbsolute(v.xsdPath) && path.isAbsolute(v.examplesDir)).toBe(true);
      expect(v.description.length).toBeGreaterThan(20);
      for (const t of v.messageTypes) expect(t.id).toBe(`${v.standard}:${v.version}:${t.name}`);
    }
  });

  it('registers xmeld 25.11 with its four message types', () => {
    const v = catalogue.get('xmeld', '25.11')!;
    expect(v).toBe(xmeld2511);
    expect(v).toMatchObject({
      standard: 'xmeld',
      title: 'XMeld',
      version: '25.11',
      prefix: 'xmeld',
      namespace: 'urn:xoev-de:xmeld:25.11',
    });
    expect(v.messageTypes.map((t) => [t.id, t.code])).toEqual([
      ['xmeld:25.11:rueckmeldung.anmeldunginland.0201', '0201'],
      ['xmeld:25.11:rueckmeldung.auswertung.0203', '0203'],
      ['xmeld:25.11:rueckmeldung.unplausibel.0204', '0204'],
      ['xmeld:25.11:quittung.0020', '0020'],
    ]);
    expect(v.codeLists.map((l) => l.listURI)).toContain(LISTS.ags.listURI);
  });

  it('registers the message types of xkfz, xelterngeld and xbafoeg', () => {
    expect(catalogue.get('xkfz', '1.4')!.messageTypes.map((t) => t.name)).toEqual([
      'fahrzeug.zulassung.1001',
      'fahrzeug.halterwechsel.1002',
      'fahrzeug.ausserbetriebsetzung.1003',
      'quittung.1000',
    ]);
    expect(catalogue.get('xelterngeld', '1.2')!.messageTypes.map((t) => t.name)).toEqual([
      'elterngeld.antrag.0101',
      'elterngeld.bescheid.0102',
      'elterngeld.nachforderung.0103',
      'quittung.0100',
    ]);
    expect(catalogue.get('xbafoeg', '1.0')!.messageTypes.map((t) => t.name)).toEqual([
      'akte.abgabe.0401',
      'akte.uebernahme.0402',
      'quittung.0400',
    ]);
  });

  it('finds message types by name, id and root element', () => {
    expect(catalogue.messageType('xmeld', '25.11', 'rueckmeldung.anmeldunginland.0201')).toBe(
      rueckmeldung0201,
    );
    expect(catalogue.byId('xmeld:25.11:rueckmeldung.auswertung.0203')).toBe(auswertung0203);
    expect(catalogue.byRoot('urn:xoev-de:xmeld:25.11', 'rueckmeldung.auswertung.0203')).toBe(auswertung0203);
    expect(catalogue.byRoot('urn:xoev-de:xmeld:25.05', 'rueckmeldung.auswertung.0203')?.id).toBe(
      'xmeld:25.05:rueckmeldung.auswertung.0203',
    );
    expect(catalogue.byRoot('urn:xoev-de:xmeld:25.04', 'rueckmeldung.auswertung.0203')).toBeUndefined();
    expect(catalogue.byRoot(null, 'rueckmeldung.auswertung.0203')).toBeUndefined();
    expect(catalogue.get('xmeld', '99.99')).toBeUndefined();
    expect(catalogue.messageType('xmeld', '25.11', 'quittung.9999')).toBeUndefined();
    expect(catalogue.byId('nope')).toBeUndefined();
  });

  it('every message type has an example, and every code of every list is unique', () => {
    for (const spec of SPECS) expect(() => exampleXml(spec)).not.toThrow();
    expect(VERSIONS.map((v) => path.relative(HERE, v.xsdPath))).toContain(
      path.join('xmeld', '25.11', 'xmeld.xsd'),
    );
    for (const list of VERSIONS.flatMap((v) => v.codeLists)) {
      expect(new Set(list.codes.map((c) => c.code)).size, list.listURI).toBe(list.codes.length);
    }
  });
});

// ------------------------------------------------------------------------------------------- examples

describe.each(SPECS.map((s) => [s.id, s] as const))('example of %s', (_id, spec) => {
  it('parses, validates and serializes to its own exclusive canonical form', () => {
    const xml = exampleXml(spec);
    const message = validateMessage(spec, fromElement(spec, rootOf(xml)));
    const doc = parse(xml);
    stripIndentation(doc.documentElement);
    expect(toCanonicalXml(spec, message)).toBe(excC14n(doc.documentElement));
  });

  it('round-trips through the canonical form', () => {
    const message = exampleMessage(spec);
    const canonical = toCanonicalXml(spec, message);
    expect(validateMessage(spec, fromElement(spec, rootOf(canonical)))).toStrictEqual(message);
    expect(excC14n(parse(canonical).documentElement)).toBe(canonical);
  });
});

it.each(VERSIONS.map((v) => [`${v.standard} ${v.version}`, v] as const))(
  'the examples of %s, and the codec output for them, validate against its XSD (xmllint)',
  (_name, version) => {
    const docs = version.messageTypes.flatMap((spec) => [
      exampleXml(spec),
      toCanonicalXml(spec, exampleMessage(spec)),
    ]);
    expectAllValid(version.xsdPath, docs);
  },
);

it('an example of one version is refused by the XSD of the other (the namespace is the version)', () => {
  const xml = exampleXml(catalogue.messageType('xmeld', '25.05', 'rueckmeldung.auswertung.0203')!);
  expect(xmllint(XSD, [xml]).valid).toEqual([false]);
});

it('the 0201 example is the Magdeburg → Dresden move', () => {
  const m = exampleMessage(rueckmeldung0201) as unknown as Rueckmeldung0201;
  expect(m['wohnung.bisher'].anschrift.gemeindeschluessel.code).toBe('15003000');
  expect(m['wohnung.neu'].anschrift.gemeindeschluessel.code).toBe('14612000');
  expect(m.person.staatsangehoerigkeit).toHaveLength(2);
  expect(m.person.doktorgrad).toBeDefined();
  expect(m.person.familienname).toMatch(/[äöüßÄÖÜ]/);
  const answer = exampleMessage(auswertung0203);
  expect(header(answer).referenzUUID).toBe(messageId(m as unknown as XoevMessage));
});

// ------------------------------------------------------------------------------------------- properties

describe.each(SPECS.map((s) => [s.id, s] as const))('random valid %s', (_id, spec) => {
  it('round-trips object → XML → DOM → object losslessly, equals exc-c14n, and validates with xmllint', () => {
    const docs: string[] = [];
    fc.assert(
      fc.property(messageArbitrary(spec), (message) => {
        const valid = validateMessage(spec, message);
        const xml = toCanonicalXml(spec, valid);
        const root = rootOf(xml);
        expect(excC14n(root)).toBe(xml);
        const back = validateMessage(spec, fromElement(spec, root));
        expect(back).toStrictEqual(valid);
        docs.push(xml);
      }),
      { numRuns: RUNS },
    );
    expectAllValid(versionOf(spec).xsdPath, docs);
  });
});

// ------------------------------------------------------------------------------------------- invalid input

describe('invalid messages: the zod schema and the XSD agree, with the right error code and pointer', () => {
  const xml0201 = () => toCanonicalXml(rueckmeldung0201, exampleMessage(rueckmeldung0201));
  const staat = (code: string) =>
    `<staatsangehoerigkeit listURI="${LISTS.staat.listURI}" listVersionID="${LISTS.staat.listVersionID}"><code>${code}</code></staatsangehoerigkeit>`;
  const cases: { name: string; doc: () => string; code: string; pointer: string }[] = [
    {
      name: 'a code not on its list',
      doc: () => xml0201().replace('<code>w</code>', '<code>q</code>'),
      code: 'GW_ERR_CODE_NOT_IN_LIST',
      pointer: '/person/geschlecht/code',
    },
    {
      name: 'an impossible date',
      doc: () => xml0201().replace('<datum>1984-03-17</datum>', '<datum>2025-02-30</datum>'),
      code: 'GW_ERR_SCHEMA_INVALID',
      pointer: '/person/geburt/datum',
    },
    {
      name: 'five nationalities',
      doc: () =>
        xml0201().replace('<familienstand ', `${staat('129')}${staat('137')}${staat('148')}<familienstand `),
      code: 'GW_ERR_SCHEMA_INVALID',
      pointer: '/person/staatsangehoerigkeit',
    },
    {
      name: 'a missing familienname',
      doc: () => xml0201().replace(/<familienname>[^<]*<\/familienname>/, ''),
      code: 'GW_ERR_SCHEMA_INVALID',
      pointer: '/person/familienname',
    },
    {
      name: 'a wrong code list version',
      doc: () =>
        xml0201().replace(`listVersionID="${LISTS.familienstand.listVersionID}"`, 'listVersionID="1"'),
      code: 'GW_ERR_SCHEMA_INVALID',
      pointer: '/person/familienstand/listVersionID',
    },
    {
      name: 'a postcode with four digits',
      doc: () => xml0201().replace('<postleitzahl>01099</postleitzahl>', '<postleitzahl>0109</postleitzahl>'),
      code: 'GW_ERR_SCHEMA_INVALID',
      pointer: '/wohnung.neu/anschrift/postleitzahl',
    },
  ];

  it.each(cases)('$name', ({ doc, code, pointer }) => {
    const error = caught(() =>
      validateMessage(rueckmeldung0201, fromElement(rueckmeldung0201, rootOf(doc()))),
    );
    expect(error.code).toBe(code);
    expect(error.errors.map((e) => e.pointer)).toContain(pointer);
  });

  it('xmllint rejects every one of them too', () => {
    const { valid, output } = xmllint(
      XSD,
      cases.map((c) => c.doc()),
    );
    expect(valid, output).toEqual(cases.map(() => false));
  });

  it('reports every issue, and code-list issues win the error code', () => {
    const m = structuredClone(exampleMessage(rueckmeldung0201)) as unknown as Rueckmeldung0201;
    m.person.staatsangehoerigkeit[1]!.code = '999';
    (m.person as Partial<typeof m.person>).vornamen = undefined;
    const error = caught(() => validateMessage(rueckmeldung0201, m));
    expect(error.code).toBe('GW_ERR_CODE_NOT_IN_LIST');
    expect(error.status).toBe(422);
    expect(error.errors).toEqual(
      expect.arrayContaining([
        { pointer: '/person/vornamen', detail: expect.any(String) },
        {
          pointer: '/person/staatsangehoerigkeit/1/code',
          detail: expect.stringContaining(LISTS.staat.listURI),
        },
      ]),
    );
  });

  it('rejects a header naming another message type', () => {
    const m = structuredClone(exampleMessage(rueckmeldung0201));
    m['nachrichtenkopf.g2g']['identifikation.nachricht'].nachrichtentyp.code = '0203';
    const error = caught(() => validateMessage(rueckmeldung0201, m));
    expect(error.code).toBe('GW_ERR_SCHEMA_INVALID');
    expect(error.errors[0]!.pointer).toBe(
      '/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtentyp/code',
    );
  });

  it('rejects a 0203 without referenzUUID', () => {
    const m = structuredClone(exampleMessage(auswertung0203));
    delete m['nachrichtenkopf.g2g'].referenzUUID;
    expect(caught(() => validateMessage(auswertung0203, m)).errors[0]!.pointer).toBe(
      '/nachrichtenkopf.g2g/referenzUUID',
    );
  });

  it('rejects erstellungszeitpunkt values xs:dateTime rejects', () => {
    for (const t of [
      '2025-02-30T10:00:00.000Z',
      '2025-01-01T10:00:00.000+14:30',
      '2025-01-01T10:00:00Z',
      'gestern',
    ]) {
      const m = structuredClone(exampleMessage(rueckmeldung0201));
      m['nachrichtenkopf.g2g']['identifikation.nachricht'].erstellungszeitpunkt = t;
      expect(caught(() => validateMessage(rueckmeldung0201, m)).errors[0]!.pointer).toBe(
        '/nachrichtenkopf.g2g/identifikation.nachricht/erstellungszeitpunkt',
      );
    }
  });

  it('rejects garbage dates without crashing', () => {
    for (const d of ['abc', '2025-13-01', '0000-01-01', '']) {
      const m = structuredClone(exampleMessage(rueckmeldung0201)) as unknown as Rueckmeldung0201;
      m.person.geburt.datum = d;
      expect(caught(() => validateMessage(rueckmeldung0201, m)).errors[0]!.pointer).toBe(
        '/person/geburt/datum',
      );
    }
  });
});

// ------------------------------------------------------------------------------------------- fromElement

describe('fromElement is strict', () => {
  const canonical = () => toCanonicalXml(rueckmeldung0201, exampleMessage(rueckmeldung0201));
  const read = (xml: string, spec: MessageTypeSpec = rueckmeldung0201) => fromElement(spec, rootOf(xml));
  const SIG = `<ds:Signature xmlns:ds="${XMLDSIG_NAMESPACE}"><ds:SignedInfo/></ds:Signature>`;
  const END = '</xmeld:rueckmeldung.anmeldunginland.0201>';

  it.each([
    ['the wrong root element', () => read(canonical(), auswertung0203), ''],
    [
      'the wrong namespace',
      () => read(canonical().replace('urn:xoev-de:xmeld:25.11', 'urn:xoev-de:xmeld:25.05')),
      '',
    ],
    [
      'an unknown element',
      () => read(canonical().replace('<vornamen>', '<rufname>Anna</rufname><vornamen>')),
      '/person/rufname',
    ],
    [
      'an unknown attribute',
      () => read(canonical().replace('<geschlecht ', '<geschlecht bogus="1" ')),
      '/person/geschlecht/bogus',
    ],
    [
      'an attribute on a simple element',
      () => read(canonical().replace('<familienname>', '<familienname lang="de">')),
      '/person/familienname/lang',
    ],
    [
      'a namespaced attribute',
      () => read(canonical().replace('<person>', '<person xmlns:x="urn:x" x:id="1">')),
      '/person/id',
    ],
    [
      'an unknown root attribute',
      () =>
        read(
          canonical().replace(
            ' test=',
            ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="a b" test=',
          ),
        ),
      '/schemaLocation',
    ],
    ['text in element-only content', () => read(canonical().replace('<person>', '<person>Frau ')), '/person'],
    [
      'an element in a simple element',
      () => read(canonical().replace('<familienname>', '<familienname><b/>')),
      '/person/familienname',
    ],
    [
      'elements out of order',
      () =>
        read(
          canonical().replace(/(<familienname>.*?<\/familienname>)(<geburtsname>.*?<\/geburtsname>)/, '$2$1'),
        ),
      '/person/familienname',
    ],
    [
      'a repeated single element',
      () => read(canonical().replace('<person>', '<anmeldedatum>2025-11-05</anmeldedatum><person>')),
      '/anmeldedatum',
    ],
    [
      'a qualified child element',
      () =>
        read(
          canonical().replace(
            /<anmeldedatum>(.*?)<\/anmeldedatum>/,
            '<xmeld:anmeldedatum>$1</xmeld:anmeldedatum>',
          ),
        ),
      '/anmeldedatum',
    ],
    [
      'a child in a default namespace',
      () => read(canonical().replace('<person>', '<person xmlns="urn:xoev-de:xmeld:25.11">')),
      '/person',
    ],
    [
      'a boolean spelled 1',
      () => read(canonical().replace('<auskunftssperre>false<', '<auskunftssperre>0<')),
      '/person/auskunftssperre',
    ],
    [
      'a boolean attribute spelled TRUE',
      () => read(canonical().replace('test="false"', 'test="TRUE"')),
      '/test',
    ],
    [
      'a control character reference',
      () => read(canonical().replace('<vornamen>Anna', '<vornamen>&#x1;Anna')),
      '/person/vornamen',
    ],
    [
      'a processing instruction',
      () => read(canonical().replace('<person>', '<person><?php echo 1; ?>')),
      '/person',
    ],
    [
      'a signature that is not last',
      () => read(canonical().replace('<wohnung.bisher>', `${SIG}<wohnung.bisher>`)),
      '/Signature',
    ],
    [
      'a signature below the root',
      () => read(canonical().replace('</person>', `${SIG}</person>`)),
      '/person/Signature',
    ],
  ] as const)('rejects %s', (_name, fn, pointer) => {
    const error = caught(fn);
    expect(error.code).toBe('GW_ERR_SCHEMA_INVALID');
    expect(error.errors[0]!.pointer).toBe(pointer);
  });

  it('skips a trailing ds:Signature, comments, indentation and CDATA', () => {
    const message = exampleMessage(rueckmeldung0201);
    const xml = canonical()
      .replace(END, `\n  ${SIG}\n${END}`)
      .replace('<person>', '<person>\n  <!-- Person -->\n  ')
      .replace('<wohnort>Dresden</wohnort>', '<wohnort><![CDATA[Dres]]><!-- x -->den</wohnort>');
    expect(validateMessage(rueckmeldung0201, read(xml))).toStrictEqual(message);
    expect(xmllint(XSD, [xml]).valid).toEqual([true]);
  });

  it('keeps significant whitespace and characters in simple content', () => {
    const message = structuredClone(exampleMessage(rueckmeldung0201)) as unknown as Rueckmeldung0201;
    message.person.vornamen = ' Anna\r\n\tLena & <Sophie> "]]>" ';
    message['wohnung.neu'].anschrift.hausnummer = '\n';
    message.person.geburt.geburtsort = 'Graz 😀';
    const xml = toCanonicalXml(rueckmeldung0201, message as unknown as XoevMessage);
    expect(xml).toContain('<vornamen> Anna&#xD;\n\tLena &amp; &lt;Sophie&gt; "]]&gt;" </vornamen>');
    expect(validateMessage(rueckmeldung0201, read(xml))).toStrictEqual(message);
  });
});

// ------------------------------------------------------------------------------------------- toCanonicalXml

describe('toCanonicalXml', () => {
  it.each([
    ['a control character', '\u0001', 'U+0001'],
    ['NUL', 'a\u0000', 'U+0000'],
    ['a lone surrogate', 'x\uD800', 'U+D800'],
    ['U+FFFE', '\uFFFE', 'U+FFFE'],
  ])('rejects %s with a JSON pointer', (_name, value, detail) => {
    const m = structuredClone(exampleMessage(rueckmeldung0201)) as unknown as Rueckmeldung0201;
    m['wohnung.bisher'].anschrift.strasse = value;
    const error = caught(() => toCanonicalXml(rueckmeldung0201, m as unknown as XoevMessage));
    expect(error.code).toBe('GW_ERR_SCHEMA_INVALID');
    expect(error.errors).toEqual([
      { pointer: '/wohnung.bisher/anschrift/strasse', detail: expect.stringContaining(detail) },
    ]);
  });

  // Regression: FC_SEED=893684178 made the random round trip fail after 142 runs: the arbitrary drew
  // U+0085 into a text field, the codec wrote it literally, and xmldom read it back as a line feed
  // (exc-c14n of the parsed document differed). The printed counterexample looked harmless because
  // U+0085 does not show in a terminal. Such characters are now refused, with a pointer.
  it.each([
    ['NEL', 'a\u0085b', 'U+0085'],
    ['LINE SEPARATOR', 'a\u2028b', 'U+2028'],
    ['PARAGRAPH SEPARATOR', '\u2029', 'U+2029'],
    ['the replacement character', 'M\uFFFDller', 'U+FFFD'],
  ])(
    'refuses %s, which would not survive sign → parse → read, at validation and in the codec',
    (_name, value, detail) => {
      const m = structuredClone(exampleMessage(rueckmeldung0201)) as unknown as Rueckmeldung0201;
      m.person.staatsangehoerigkeit[1]!.name = value;
      for (const error of [
        caught(() => validateMessage(rueckmeldung0201, m)),
        caught(() => toCanonicalXml(rueckmeldung0201, m as unknown as XoevMessage)),
      ]) {
        expect(error.code).toBe('GW_ERR_SCHEMA_INVALID');
        expect(error.errors).toEqual([
          { pointer: '/person/staatsangehoerigkeit/1/name', detail: expect.stringContaining(detail) },
        ]);
      }
      // Written as a character reference (which the parser keeps), it is refused on reading too.
      const ok = structuredClone(m);
      ok.person.staatsangehoerigkeit[1]!.name = 'PLACEHOLDER';
      const xml = toCanonicalXml(rueckmeldung0201, ok as unknown as XoevMessage).replace(
        'PLACEHOLDER',
        `&#x${detail.slice(2)};`,
      );
      expect(caught(() => fromElement(rueckmeldung0201, rootOf(xml))).errors[0]!.pointer).toBe(
        '/person/staatsangehoerigkeit/1/name',
      );
    },
  );

  it('names the array index and attribute in its pointers', () => {
    const m = structuredClone(exampleMessage(rueckmeldung0201)) as unknown as Rueckmeldung0201;
    m.person.staatsangehoerigkeit[1]!.name = '\u0007';
    expect(
      caught(() => toCanonicalXml(rueckmeldung0201, m as unknown as XoevMessage)).errors[0]!.pointer,
    ).toBe('/person/staatsangehoerigkeit/1/name');
    const n = structuredClone(exampleMessage(rueckmeldung0201));
    n.produkt = 'a\u000Bb';
    expect(caught(() => toCanonicalXml(rueckmeldung0201, n)).errors[0]!.pointer).toBe('/produkt');
  });

  it('escapes attribute values as exc-c14n does', () => {
    const m = structuredClone(exampleMessage(rueckmeldung0201));
    m.produkt = 'A&B <"x"> \'y\'\t\n\r';
    const xml = toCanonicalXml(rueckmeldung0201, m);
    expect(xml).toContain(' produkt="A&amp;B &lt;&quot;x&quot;> \'y\'&#x9;&#xA;&#xD;"');
    expect(excC14n(rootOf(xml))).toBe(xml);
    expect(validateMessage(rueckmeldung0201, fromElement(rueckmeldung0201, rootOf(xml)))).toStrictEqual(m);
  });

  it('starts with the root, its one namespace declaration and sorted attributes', () => {
    expect(toCanonicalXml(auswertung0203, exampleMessage(auswertung0203))).toMatch(
      /^<xmeld:rueckmeldung\.auswertung\.0203 xmlns:xmeld="urn:xoev-de:xmeld:25\.11" produkt="[^"]*" produkthersteller="[^"]*" produktversion="2025\.2" standard="XMeld" test="false" version="25\.11"><nachrichtenkopf\.g2g>/,
    );
  });
});

// ------------------------------------------------------------------------------------------- generic codec

describe('the codec is driven by any zod object schema', () => {
  it('maps recursive (z.lazy) schemas', () => {
    interface Teil {
      name: string;
      teil?: Teil[];
    }
    const Teil: z.ZodType<Teil> = z.object({
      name: z.string(),
      teil: z.array(z.lazy(() => Teil)).optional(),
    });
    const Baum = z.object({ test: z.boolean().meta(XML_ATTRIBUTE), wurzel: Teil });
    const s = { ...spec, schema: Baum as unknown as z.ZodType<XoevMessage> };
    const value = {
      test: false,
      wurzel: { name: 'a', teil: [{ name: 'b', teil: [{ name: 'c' }] }, { name: 'd' }] },
    };
    const xml = toCanonicalXml(s, value as unknown as XoevMessage);
    expect(xml).toBe(
      '<t:test.0001 xmlns:t="urn:t" test="false"><wurzel><name>a</name><teil><name>b</name><teil><name>c</name></teil></teil>' +
        '<teil><name>d</name></teil></wurzel></t:test.0001>',
    );
    expect(Baum.parse(fromElement(s, rootOf(xml)))).toStrictEqual(value);
  });

  const Inner = z.object({ wert: z.number(), art: z.enum(['a', 'b']) });
  const schema = z.object({
    standard: z.literal('T').meta(XML_ATTRIBUTE),
    version: z.literal('1').meta(XML_ATTRIBUTE),
    produkt: z.string().meta(XML_ATTRIBUTE),
    produkthersteller: z.string().optional().meta(XML_ATTRIBUTE),
    produktversion: z.string().meta(XML_ATTRIBUTE).optional(),
    test: z.boolean().meta(XML_ATTRIBUTE),
    'nachrichtenkopf.g2g': z.unknown(),
    liste: z.array(Inner).optional(),
    mitStandard: z.string().default('x'),
    frei: z.string().readonly(),
  });
  const spec = {
    standard: 't',
    version: '1',
    name: 'test.0001',
    code: '0001',
    namespace: 'urn:t',
    prefix: 't',
    id: 't:1:test.0001',
    schema: schema as unknown as z.ZodType<XoevMessage>,
  } satisfies MessageTypeSpec;

  it('rejects schemas it cannot map when compiling the plan, every time', () => {
    expect(() => toCanonicalXml(spec, {} as XoevMessage)).toThrow(
      /zod type unknown cannot be mapped.*nachrichtenkopf\.g2g/,
    );
    expect(() => toCanonicalXml(spec, {} as XoevMessage)).toThrow(
      /zod type unknown cannot be mapped.*nachrichtenkopf\.g2g/,
    );
  });

  it('maps attributes, wrapped meta, numbers, enums, optional arrays and defaults', () => {
    const ok = schema.extend({ 'nachrichtenkopf.g2g': z.object({ id: z.string() }) });
    const s = { ...spec, schema: ok as unknown as z.ZodType<XoevMessage> };
    const value = {
      standard: 'T',
      version: '1',
      produkt: 'p',
      produkthersteller: 'h',
      produktversion: 'v',
      test: true,
      'nachrichtenkopf.g2g': { id: 'i' },
      liste: [
        { wert: 1.5, art: 'a' },
        { wert: -2e-7, art: 'b' },
      ],
      mitStandard: 'y',
      frei: '',
    };
    const xml = toCanonicalXml(s, value as unknown as XoevMessage);
    expect(xml).toBe(
      '<t:test.0001 xmlns:t="urn:t" produkt="p" produkthersteller="h" produktversion="v" standard="T" test="true" version="1">' +
        '<nachrichtenkopf.g2g><id>i</id></nachrichtenkopf.g2g><liste><wert>1.5</wert><art>a</art></liste>' +
        '<liste><wert>-2e-7</wert><art>b</art></liste><mitStandard>y</mitStandard><frei></frei></t:test.0001>',
    );
    expect(excC14n(rootOf(xml))).toBe(xml);
    expect(ok.parse(fromElement(s, rootOf(xml)))).toStrictEqual(value);
  });
});

// ------------------------------------------------------------------------------------------- helpers

describe('message helpers', () => {
  const dresden = { verzeichnisdienst: 'DVDV' as const, kennung: 'ags:14612000', name: 'Stadt Dresden' };
  const magdeburg = { verzeichnisdienst: 'DVDV' as const, kennung: 'ags:15003000', name: 'Stadt Magdeburg' };

  it('newHeader builds a valid header with milliseconds and Z', () => {
    const now = new Date('2025-11-05T08:14:27.300Z');
    const kopf = newHeader({
      typeList: LISTS.nachrichtentyp,
      code: '0201',
      leser: magdeburg,
      autor: dresden,
      now,
    });
    expect(kopf['identifikation.nachricht'].erstellungszeitpunkt).toBe('2025-11-05T08:14:27.300Z');
    expect(kopf['identifikation.nachricht'].nachrichtentyp).toEqual({
      listURI: LISTS.nachrichtentyp.listURI,
      listVersionID: '25.11',
      code: '0201',
    });
    expect('referenzUUID' in kopf).toBe(false);
    const message = { ...exampleMessage(rueckmeldung0201), 'nachrichtenkopf.g2g': kopf };
    const valid = validateMessage(rueckmeldung0201, message);
    expect(messageId(valid)).toBe(kopf['identifikation.nachricht'].nachrichtenUUID);
    expect(header(valid)).toEqual(kopf);
    expect(
      validateMessage(
        rueckmeldung0201,
        fromElement(rueckmeldung0201, rootOf(toCanonicalXml(rueckmeldung0201, valid))),
      ),
    ).toStrictEqual(valid);
  });

  it('newHeader takes a uuid and a referenzUUID, and refuses codes not on the list', () => {
    const kopf = newHeader({
      typeList: LISTS.nachrichtentyp,
      code: '0203',
      leser: dresden,
      autor: magdeburg,
      uuid: '9b2e4c71-05d3-4f6a-8e1b-2c3d4e5f6a70',
      referenzUUID: '3f0c9a52-7d1e-4b8a-9c2f-5e6d7a8b9c01',
    });
    expect(kopf.referenzUUID).toBe('3f0c9a52-7d1e-4b8a-9c2f-5e6d7a8b9c01');
    expect(kopf['identifikation.nachricht'].nachrichtenUUID).toBe('9b2e4c71-05d3-4f6a-8e1b-2c3d4e5f6a70');
    expect(() =>
      newHeader({ typeList: LISTS.nachrichtentyp, code: '9999', leser: dresden, autor: magdeburg }),
    ).toThrow(/9999/);
  });

  it('jsonPointer escapes ~ and /', () => {
    expect(jsonPointer([])).toBe('');
    expect(jsonPointer(['a/b', 'c~d', 0, '~1'])).toBe('/a~1b/c~0d/0/~01');
  });
});

// ------------------------------------------------------------------------------------------- speed

it('serializes fast: 10 000 canonical 0201 documents in under 3 s (about 10 µs each on an idle machine)', () => {
  const message = exampleMessage(rueckmeldung0201);
  toCanonicalXml(rueckmeldung0201, message);
  const t0 = performance.now();
  let bytes = 0;
  for (let i = 0; i < 10_000; i++) bytes += toCanonicalXml(rueckmeldung0201, message).length;
  expect(bytes).toBeGreaterThan(10_000 * 2000);
  expect(performance.now() - t0).toBeLessThan(3_000);
});
