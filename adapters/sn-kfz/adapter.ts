/**
 * sn-kfz — the vehicle registration authorities of Sachsen (fictional mainframe procedure
 * "KFZ-SN"). Exchanges fixed-width batch files in ISO-8859-1, CRLF, one record per Vorgang: record
 * type 10 is a registration (XKfz 1001), 20 a change of keeper (1002). Dates are JJJJMMTT, the
 * inspection month JJJJMM, the plate one field `DD-AB 1234`, a natural keeper's name one field
 * `Familienname, Vornamen`, and the keeper kind N (natural) or J (legal person) decides which
 * fields are filled. The record description is the layout below; a short line is refused naming
 * the line and the first field that does not fit.
 */
import type { MessageTypeSpec, XoevMessage } from '../../standards/catalogue.ts';
import { halterwechsel1002, zulassung1001 } from '../../standards/xkfz/1.4/index.ts';
import type { Halter, Halterwechsel1002, Zulassung1001 } from '../../standards/xkfz/1.4/schema.ts';
import { LISTS } from '../../standards/xkfz/1.4/schema.ts';
import { clip, constrainTexts, fitCharset, setAt, withoutCodeNames } from '../sdk/constrain.ts';
import { type FieldType, fixedWidthFormat, sequentialLayout } from '../sdk/formats/fixed-width.ts';
import { mappedAdapter } from '../sdk/mapped-adapter.ts';
import type { Converter } from '../sdk/mapping/converters.ts';
import { defineMapping, type Fields, type Rule } from '../sdk/mapping/define.ts';
import { defineMessageMapping } from '../sdk/mapping/message-mapping.ts';

const PRODUKT = {
  produkt: 'sn-kfz',
  produkthersteller: 'Staatsbetrieb Sächsische Informatik Dienste (fiktiv)',
  produktversion: 'KFZ-SN 12.3',
};

type F = [string, number, FieldType];

const HEAD: F[] = [
  ['SATZART', 2, 'numeric'],
  ['VORGANGS_ID', 36, 'alpha'],
  ['BEZUGS_ID', 36, 'alpha'],
  ['TESTKZ', 1, 'alpha'],
  ['ABS_KENNUNG', 20, 'alpha'],
  ['ABS_NAME', 60, 'alpha'],
  ['EMPF_KENNUNG', 20, 'alpha'],
  ['EMPF_NAME', 60, 'alpha'],
  ['DATUM', 8, 'numeric'],
  ['FIN', 17, 'alpha'],
  ['FZKLASSE', 3, 'alpha'],
  ['MARKE', 30, 'alpha'],
  ['HANDELSBEZ', 30, 'alpha'],
  ['ERSTZUL', 8, 'numeric'],
  ['KENNZ', 12, 'alpha'],
  ['ZB2', 8, 'alpha'],
  ['HU', 6, 'numeric'],
];

/** A keeper block; the prefix tells the keepers of one record apart (H_ holder, A_ previous, N_ new). */
function halterBlock(p: string): F[] {
  return [
    [`${p}ART`, 1, 'alpha'],
    [`${p}NAME`, 80, 'alpha'],
    [`${p}GEBNAME`, 40, 'alpha'],
    [`${p}DRGRAD`, 20, 'alpha'],
    [`${p}GEBDAT`, 8, 'numeric'],
    [`${p}GEBORT`, 40, 'alpha'],
    [`${p}GEBSTAAT`, 3, 'numeric'],
    [`${p}REGISTER`, 40, 'alpha'],
    [`${p}STRASSE`, 40, 'alpha'],
    [`${p}HNR`, 10, 'alpha'],
    [`${p}PLZ`, 5, 'numeric'],
    [`${p}ORT`, 40, 'alpha'],
    [`${p}AGS`, 8, 'numeric'],
  ];
}

export const ZULASSUNG = sequentialLayout('ZULASSUNG', [...HEAD, ...halterBlock('H_')]);
export const HALTERWECHSEL = sequentialLayout('HALTERWECHSEL', [
  ...HEAD,
  ['KENNZ_NEU', 12, 'alpha'],
  ...halterBlock('A_'),
  ...halterBlock('N_'),
]);

/** The inspection month: `JJJJMM` natively, `JJJJ-MM` in the standard. */
const MONAT: Converter<unknown, string> = {
  describe: 'month JJJJMM',
  decode(v, at, { mapper }) {
    const raw = mapper.textAt(v, at);
    if (!/^\d{6}$/.test(raw))
      return mapper.fail(at.native, at.pointer, `${JSON.stringify(raw)} is not a month JJJJMM`);
    return `${raw.slice(0, 4)}-${raw.slice(4)}`;
  },
  encode: (v) => v.replace('-', ''),
};

function halter(p: string) {
  return defineMapping<Halter>((g) => [
    g.choice(`${p}ART`, {
      N: {
        pointer: '/natuerlichePerson',
        mapping: defineMapping<NonNullable<Halter['natuerlichePerson']>>((n) => [
          n.split(['/familienname', '/vornamen'], `${p}NAME`, { separator: ', ' }),
          n.text('/geburtsname', `${p}GEBNAME`, { optional: true }),
          n.text('/doktorgrad', `${p}DRGRAD`, { optional: true }),
          n.date('/geburt/datum', `${p}GEBDAT`, 'compact'),
          n.text('/geburt/geburtsort', `${p}GEBORT`),
          n.code('/geburt/geburtsstaat', `${p}GEBSTAAT`, LISTS.staat, undefined, { optional: true }),
        ]),
      },
      J: {
        pointer: '/juristischePerson',
        mapping: defineMapping<NonNullable<Halter['juristischePerson']>>((j) => [
          j.text('/name', `${p}NAME`),
          j.text('/registereintrag', `${p}REGISTER`, { optional: true }),
        ]),
      },
    }),
    g.text('/anschrift/strasse', `${p}STRASSE`),
    g.text('/anschrift/hausnummer', `${p}HNR`, { optional: true }),
    g.text('/anschrift/postleitzahl', `${p}PLZ`),
    g.text('/anschrift/wohnort', `${p}ORT`),
    g.code('/anschrift/gemeindeschluessel', `${p}AGS`, LISTS.ags),
  ]);
}

/** The header and vehicle fields both record types share. */
function common<T extends Zulassung1001 | Halterwechsel1002>(f: Fields<T>): Rule[] {
  // Both message types have these fields at the same pointers.
  const g = f as unknown as Fields<Zulassung1001>;
  return [
    g.bool('/test', 'TESTKZ', { true: ['T'], false: ['P'] }, { default: false }),
    g.uuid('/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtenUUID', 'VORGANGS_ID', {
      generate: true,
    }),
    g.timestamp('/nachrichtenkopf.g2g/identifikation.nachricht/erstellungszeitpunkt'),
    g.behoerde('/nachrichtenkopf.g2g/leser', { kennung: 'EMPF_KENNUNG', name: 'EMPF_NAME' }),
    g.behoerde('/nachrichtenkopf.g2g/autor', { kennung: 'ABS_KENNUNG', name: 'ABS_NAME' }),
    g.uuid('/nachrichtenkopf.g2g/referenzUUID', 'BEZUGS_ID', { optional: true }),
    g.text('/fahrzeug/fin', 'FIN'),
    g.code('/fahrzeug/fahrzeugklasse', 'FZKLASSE', LISTS.fahrzeugklasse),
    g.text('/fahrzeug/marke', 'MARKE'),
    g.text('/fahrzeug/handelsbezeichnung', 'HANDELSBEZ', { optional: true }),
    g.date('/fahrzeug/erstzulassung', 'ERSTZUL', 'compact'),
    g.split(['/kennzeichen/unterscheidungszeichen', '/kennzeichen/erkennungsnummer'], 'KENNZ', {
      separator: '-',
    }),
    g.text('/zb2Nummer', 'ZB2'),
    g.convert('/naechsteHauptuntersuchung', 'HU', MONAT),
  ];
}

const zulassung = defineMessageMapping<Zulassung1001>({
  type: zulassung1001,
  produkt: PRODUKT,
  rules: (f) => [
    ...common(f),
    f.date('/zulassungsdatum', 'DATUM', 'compact'),
    f.nested('/halter', '', halter('H_')),
  ],
});

const halterwechsel = defineMessageMapping<Halterwechsel1002>({
  type: halterwechsel1002,
  produkt: PRODUKT,
  rules: (f) => [
    ...common(f),
    f.date('/umschreibungsdatum', 'DATUM', 'compact'),
    f.nested(
      '/kennzeichen.neu',
      '',
      defineMapping<NonNullable<Halterwechsel1002['kennzeichen.neu']>>((k) => [
        k.split(['/unterscheidungszeichen', '/erkennungsnummer'], 'KENNZ_NEU', { separator: '-' }),
      ]),
      { optional: true },
    ),
    f.nested('/halter.bisher', '', halter('A_')),
    f.nested('/halter.neu', '', halter('N_')),
  ],
});

/** Widths of the fields that hold free text, by standard pointer (for the round-trip constraints). */
function widths(spec: MessageTypeSpec): [string, number][] {
  const person = (h: string): [string, number][] => [
    [`${h}/natuerlichePerson/familienname`, 38],
    [`${h}/natuerlichePerson/vornamen`, 40],
    [`${h}/natuerlichePerson/geburtsname`, 40],
    [`${h}/natuerlichePerson/doktorgrad`, 20],
    [`${h}/natuerlichePerson/geburt/geburtsort`, 40],
    [`${h}/juristischePerson/name`, 80],
    [`${h}/juristischePerson/registereintrag`, 40],
    [`${h}/anschrift/strasse`, 40],
    [`${h}/anschrift/hausnummer`, 10],
    [`${h}/anschrift/wohnort`, 40],
  ];
  const head: [string, number][] = [
    ['/nachrichtenkopf.g2g/leser/kennung', 20],
    ['/nachrichtenkopf.g2g/leser/name', 60],
    ['/nachrichtenkopf.g2g/autor/kennung', 20],
    ['/nachrichtenkopf.g2g/autor/name', 60],
    ['/fahrzeug/marke', 30],
    ['/fahrzeug/handelsbezeichnung', 30],
  ];
  return spec.name === zulassung1001.name
    ? [...head, ...person('/halter')]
    : [...head, ...person('/halter.bisher'), ...person('/halter.neu')];
}

export default mappedAdapter({
  spec: { id: 'sn-kfz', title: 'Kfz-Zulassungsbehörden Sachsen', land: 'SN' },
  format: fixedWidthFormat({
    charset: 'iso-8859-1',
    layouts: [ZULASSUNG, HALTERWECHSEL],
    recordType: { start: 1, length: 2, values: { '10': 'ZULASSUNG', '20': 'HALTERWECHSEL' } },
    typeField: 'SATZART',
  }),
  typeField: 'SATZART',
  messages: { '10': zulassung, '20': halterwechsel },
  roundTrip: {
    constraints: [
      'text is ISO-8859-1 without control characters; a record holds no line breaks (they become spaces)',
      'texts fit their columns (names 38+40 in "Familienname, Vornamen", streets 40, …) and carry no outer white space',
      'a natural keeper’s familienname contains no comma (the comma separates it from the first names)',
      'erstellungszeitpunkt is not transmitted: it is the time of reading, in UTC',
      'produkt, produkthersteller and produktversion are those of sn-kfz; coded values carry no name',
    ],
    constrain(message: XoevMessage, spec: MessageTypeSpec) {
      let m = constrainTexts(withoutCodeNames(message), (t) =>
        fitCharset(t, 'iso-8859-1')
          .replace(/[\r\n]/g, ' ')
          .trim(),
      );
      m = setAt(m, '/nachrichtenkopf.g2g/identifikation.nachricht/erstellungszeitpunkt', (t: string) =>
        new Date(t).toISOString(),
      );
      for (const [pointer, width] of widths(spec)) m = setAt(m, pointer, (t: string) => clip(t, width));
      for (const h of ['/halter', '/halter.bisher', '/halter.neu'])
        m = setAt(m, `${h}/natuerlichePerson/familienname`, (t: string) => t.replaceAll(',', ';'));
      return { ...m, ...PRODUKT } as XoevMessage;
    },
  },
});
