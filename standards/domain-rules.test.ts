/**
 * The domain rules of each standard (FIN, plates, keepers, Elterngeld months, amounts, receipts) are
 * enforced alike by the zod schema and by the XSD (xmllint), with the right error code and pointer.
 */
import { describe, expect, it } from 'vitest';
import type { MessageTypeSpec } from './catalogue.ts';
import { catalogue } from './index.ts';
import { caught, exampleMessage, rootOf, versionOf, xmllint } from './xoev/testing/helpers.ts';
import { fromElement, toCanonicalXml, validateMessage } from './xoev/xml-codec.ts';

function spec(id: string): MessageTypeSpec {
  const s = catalogue.byId(id);
  if (!s) throw new Error(`no ${id}`);
  return s;
}

interface Case {
  name: string;
  spec: MessageTypeSpec;
  /** Edits the canonical XML of the type's example. */
  edit: (xml: string) => string;
  code: 'GW_ERR_SCHEMA_INVALID' | 'GW_ERR_CODE_NOT_IN_LIST';
  pointer: string;
}

const zulassung = spec('xkfz:1.4:fahrzeug.zulassung.1001');
const halterwechsel = spec('xkfz:1.4:fahrzeug.halterwechsel.1002');
const antrag = spec('xelterngeld:1.2:elterngeld.antrag.0101');
const bescheid = spec('xelterngeld:1.2:elterngeld.bescheid.0102');
const nachforderung = spec('xelterngeld:1.2:elterngeld.nachforderung.0103');
const unplausibel = spec('xmeld:25.11:rueckmeldung.unplausibel.0204');
const quittung = spec('xmeld:25.11:quittung.0020');
const rueckmeldung2505 = spec('xmeld:25.05:rueckmeldung.anmeldunginland.0201');

const canonical = (s: MessageTypeSpec) => toCanonicalXml(s, exampleMessage(s));
const STAAT = (code: string) =>
  `<staatsangehoerigkeit listURI="urn:de:bund:destatis:bevoelkerungsstatistik:schluessel:staat" listVersionID="2025-01"><code>${code}</code></staatsangehoerigkeit>`;

const CASES: Case[] = [
  {
    name: 'xkfz: a FIN with the letter O',
    spec: zulassung,
    edit: (x) => x.replace('<fin>WVWZZZ1KZAW123456</fin>', '<fin>WVWZZZ1KZAW12345O</fin>'),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/fahrzeug/fin',
  },
  {
    name: 'xkfz: a FIN of 16 characters',
    spec: zulassung,
    edit: (x) => x.replace('<fin>WVWZZZ1KZAW123456</fin>', '<fin>WVWZZZ1KZAW12345</fin>'),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/fahrzeug/fin',
  },
  {
    name: 'xkfz: a vehicle class not on the EG list',
    spec: zulassung,
    edit: (x) => x.replace('<code>M1</code>', '<code>M4</code>'),
    code: 'GW_ERR_CODE_NOT_IN_LIST',
    pointer: '/fahrzeug/fahrzeugklasse/code',
  },
  {
    name: 'xkfz: a plate number with a leading zero',
    spec: zulassung,
    edit: (x) => x.replace('<erkennungsnummer>KR 4711<', '<erkennungsnummer>KR 0711<'),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/kennzeichen/erkennungsnummer',
  },
  {
    name: 'xkfz: an inspection month 13',
    spec: zulassung,
    edit: (x) => x.replace('<naechsteHauptuntersuchung>2027-03<', '<naechsteHauptuntersuchung>2027-13<'),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/naechsteHauptuntersuchung',
  },
  {
    name: 'xkfz: a ZB II number in the wrong format',
    spec: zulassung,
    edit: (x) => x.replace('<zb2Nummer>FB482913<', '<zb2Nummer>FB-482913<'),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/zb2Nummer',
  },
  {
    name: 'xkfz: a keeper without a person',
    spec: halterwechsel,
    edit: (x) => x.replace(/<halter\.neu><juristischePerson>.*?<\/juristischePerson>/, '<halter.neu>'),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/halter.neu',
  },
  {
    name: 'xkfz: a keeper that is a natural and a legal person at once',
    spec: halterwechsel,
    edit: (x) =>
      x.replace(
        '<halter.neu><juristischePerson>',
        '<halter.neu><natuerlichePerson><familienname>A</familienname><vornamen>B</vornamen><geburt><datum>1990-01-01</datum><geburtsort>C</geburtsort></geburt></natuerlichePerson><juristischePerson>',
      ),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/halter.neu',
  },
  {
    name: 'xelterngeld: a Lebensmonat applied for twice',
    spec: antrag,
    edit: (x) => x.replace('<lebensmonat>15</lebensmonat>', '<lebensmonat>3</lebensmonat>'),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/bezug',
  },
  {
    name: 'xelterngeld: Lebensmonat 33',
    spec: antrag,
    edit: (x) => x.replace('<lebensmonat>15</lebensmonat>', '<lebensmonat>33</lebensmonat>'),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/bezug/3/lebensmonat',
  },
  {
    name: 'xelterngeld: an unknown variant of Elterngeld',
    spec: antrag,
    edit: (x) => x.replace('<code>PSB</code>', '<code>XXL</code>'),
    code: 'GW_ERR_CODE_NOT_IN_LIST',
    pointer: '/bezug/3/leistungsvariante/code',
  },
  {
    name: 'xelterngeld: an amount without cents',
    spec: antrag,
    edit: (x) => x.replace('<bruttobetrag>41820.00<', '<bruttobetrag>41820<'),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/einkommensnachweis/0/bruttobetrag',
  },
  {
    name: 'xelterngeld: a tax id starting with 0',
    spec: antrag,
    edit: (x) => x.replace('57549285017', '07549285017'),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/antragsteller/steuerIdentifikationsnummer',
  },
  {
    name: 'xelterngeld: an application without months',
    spec: antrag,
    edit: (x) => x.replace(/<bezug>.*<\/bezug>/, ''),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/bezug',
  },
  {
    name: 'xelterngeld: a decision granting a month twice',
    spec: bescheid,
    edit: (x) => x.replace('<lebensmonat>2</lebensmonat>', '<lebensmonat>1</lebensmonat>'),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/bewilligung',
  },
  {
    name: 'xelterngeld: a decision without referenzUUID',
    spec: bescheid,
    edit: (x) => x.replace(/<referenzUUID>.*?<\/referenzUUID>/, ''),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/nachrichtenkopf.g2g/referenzUUID',
  },
  {
    name: 'xelterngeld: a request for documents that lists none',
    spec: nachforderung,
    edit: (x) => x.replace(/<fehlendeUnterlage>.*<\/fehlendeUnterlage>/, ''),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/fehlendeUnterlage',
  },
  {
    name: 'xmeld 0204: an unknown reason',
    spec: unplausibel,
    edit: (x) => x.replace('<code>02</code>', '<code>05</code>'),
    code: 'GW_ERR_CODE_NOT_IN_LIST',
    pointer: '/grund/code',
  },
  {
    name: 'xmeld 0020: a receipt time without milliseconds',
    spec: quittung,
    edit: (x) => x.replace(/<eingangszeitpunkt>([^<.]*)\.\d{3}/, '<eingangszeitpunkt>$1'),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/eingangszeitpunkt',
  },
  {
    name: 'xmeld 25.05: a fourth nationality (25.11 allows four)',
    spec: rueckmeldung2505,
    edit: (x) => x.replace('<familienstand ', `${STAAT('129')}${STAAT('137')}<familienstand `),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/person/staatsangehoerigkeit',
  },
  {
    name: 'xmeld 25.05: Familienstand EA (only on list version 2)',
    spec: rueckmeldung2505,
    edit: (x) => x.replace('<code>VH</code>', '<code>EA</code>'),
    code: 'GW_ERR_CODE_NOT_IN_LIST',
    pointer: '/person/familienstand/code',
  },
  {
    name: 'xmeld 25.05: the 25.11 name wohnort',
    spec: rueckmeldung2505,
    edit: (x) => x.replace('<ort>Dresden</ort>', '<wohnort>Dresden</wohnort>'),
    code: 'GW_ERR_SCHEMA_INVALID',
    pointer: '/wohnung.neu/anschrift/wohnort',
  },
];

describe('domain rules: zod and the XSD agree', () => {
  it('every edit changes the document', () => {
    for (const c of CASES) expect(c.edit(canonical(c.spec)), c.name).not.toBe(canonical(c.spec));
  });

  it.each(CASES)('$name', ({ spec: s, edit, code, pointer }) => {
    const error = caught(() => validateMessage(s, fromElement(s, rootOf(edit(canonical(s))))));
    expect(error.code).toBe(code);
    expect(error.errors.map((e) => e.pointer)).toContain(pointer);
  });

  it('xmllint refuses every one of them too', () => {
    for (const version of new Set(CASES.map((c) => versionOf(c.spec)))) {
      const cases = CASES.filter((c) => versionOf(c.spec) === version);
      const { valid, output } = xmllint(
        version.xsdPath,
        cases.map((c) => c.edit(canonical(c.spec))),
      );
      expect(valid, `${version.standard} ${version.version}:\n${output}`).toEqual(cases.map(() => false));
    }
  });

  it('a legal person may keep a plate across a change of keeper (kennzeichen.neu is optional)', () => {
    const m = exampleMessage(halterwechsel) as unknown as Record<string, unknown>;
    expect(m['kennzeichen.neu']).toBeUndefined();
    const withPlate = {
      ...m,
      'kennzeichen.neu': { unterscheidungszeichen: 'MD', erkennungsnummer: 'EK 1E' },
    };
    const xml = toCanonicalXml(halterwechsel, validateMessage(halterwechsel, withPlate));
    expect(xmllint(versionOf(halterwechsel).xsdPath, [xml]).valid).toEqual([true]);
  });
});
