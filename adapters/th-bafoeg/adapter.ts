/**
 * th-bafoeg — the Amt für Ausbildungsförderung of the Studierendenwerk Thüringen (fictional
 * procedure "BAföG-TH"). Exchanges batch files: CSV, semicolon-separated, Windows-1252, CRLF, one
 * header line, one Vorgang per line; SATZART says what a line is (AB = Aktenabgabe 0401, UE =
 * Übernahme or Ablehnung 0402). At the start of a semester one file carries many Aktenabgaben.
 * Offices are addressed by the AGS of their seat (the `afa:` prefix is implicit), dates are
 * TT.MM.JJJJ, amounts `1.020,00`, Länder their abbreviations, reasons the system's one-digit codes;
 * open repayment claims share one column (./rueckforderungen.ts). Receives in pull mode: each
 * message as a one-line file of the same layout.
 */
import type { XoevMessage } from '../../standards/catalogue.ts';
import { abgabe0401, uebernahme0402 } from '../../standards/xbafoeg/1.0/index.ts';
import type { Abgabe0401, Uebernahme0402 } from '../../standards/xbafoeg/1.0/schema.ts';
import { LISTS } from '../../standards/xbafoeg/1.0/schema.ts';
import {
  avoidUtf8Lookalikes,
  constrainTexts,
  fitCharset,
  setAt,
  withoutCodeNames,
} from '../sdk/constrain.ts';
import { type CsvDialect, csvFormat } from '../sdk/formats/csv.ts';
import { mappedAdapter } from '../sdk/mapped-adapter.ts';
import { defineMapping, type Fields, type Rule } from '../sdk/mapping/define.ts';
import { defineMessageMapping } from '../sdk/mapping/message-mapping.ts';
import { rueckforderungenConverter } from './rueckforderungen.ts';

const PRODUKT = {
  produkt: 'BAföG-TH',
  produkthersteller: 'Studierendenwerk Thüringen (fiktiv)',
  produktversion: '5.0.0',
};

const DIALECT: CsvDialect = { separator: ';', quote: '"', charset: 'windows-1252', lineEnding: '\r\n' };

/** Every column, in the order the batch run writes them; UE lines leave the file columns empty. */
export const COLUMNS = [
  'SATZART',
  'VORGANG_ID',
  'BEZUG_ID',
  'TESTLAUF',
  'ABS_AMT',
  'ABS_AMT_NAME',
  'EMPF_AMT',
  'EMPF_AMT_NAME',
  'FOERDERUNGSNR',
  'AKTENZEICHEN',
  'ABGABEGRUND',
  'NAME',
  'GEBURTSNAME',
  'VORNAMEN',
  'TITEL',
  'GEBURTSDATUM',
  'STRASSE',
  'HAUSNR',
  'PLZ',
  'ORT',
  'AGS',
  'ALT_STAETTE',
  'ALT_ART',
  'ALT_ORT',
  'ALT_LAND',
  'ALT_STUDIENGANG',
  'NEU_STAETTE',
  'NEU_ART',
  'NEU_ORT',
  'NEU_LAND',
  'NEU_STUDIENGANG',
  'WECHSEL_ZUM',
  'BWZ_BEGINN',
  'BWZ_ENDE',
  'FOERDERUNGSART',
  'MONATSBETRAG',
  'GEZAHLT_BIS',
  'RUECKFORDERUNGEN',
  'HINWEIS',
  'ENTSCHEIDUNG',
  'AZ_NEU',
  'FORTSETZUNG_AB',
  'ABLEHNUNGSGRUND',
  'BEGRUENDUNG',
] as const;

export const ABGABEGRUND = { '1': '01', '2': '02', '3': '03', '9': '99' };
export const ABLEHNUNGSGRUND = { '1': '01', '2': '02', '3': '03', '4': '04', '9': '99' };
/** Land abbreviations → the Länderschlüssel. */
export const LAND = {
  SH: '01',
  HH: '02',
  NI: '03',
  HB: '04',
  NW: '05',
  HE: '06',
  RP: '07',
  BW: '08',
  BY: '09',
  SL: '10',
  BE: '11',
  BB: '12',
  MV: '13',
  SN: '14',
  ST: '15',
  TH: '16',
};
const J_N = { true: ['J'], false: ['N'] };
const BETRAG = { decimalSeparator: ',', groupSeparator: '.' } as const;

function kopf<T extends Abgabe0401 | Uebernahme0402>(f: Fields<T>): Rule[] {
  const g = f as unknown as Fields<Uebernahme0402>;
  return [
    g.bool('/test', 'TESTLAUF', J_N, { default: false }),
    g.uuid('/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtenUUID', 'VORGANG_ID', { generate: true }),
    g.uuid('/nachrichtenkopf.g2g/referenzUUID', 'BEZUG_ID', { optional: true }),
    g.timestamp('/nachrichtenkopf.g2g/identifikation.nachricht/erstellungszeitpunkt'),
    g.behoerde('/nachrichtenkopf.g2g/autor', { kennung: 'ABS_AMT', name: 'ABS_AMT_NAME', prefix: 'afa' }),
    g.behoerde('/nachrichtenkopf.g2g/leser', { kennung: 'EMPF_AMT', name: 'EMPF_AMT_NAME', prefix: 'afa' }),
    g.text('/foerderungsnummer', 'FOERDERUNGSNR'),
  ];
}

function ausbildungsstaette(prefix: 'ALT' | 'NEU') {
  return defineMapping<Abgabe0401['ausbildungsstaetteNeu']>((g) => [
    g.text('/bezeichnung', `${prefix}_STAETTE`),
    g.code('/art', `${prefix}_ART`, LISTS.ausbildungsstaettenart),
    g.text('/ort', `${prefix}_ORT`),
    g.code('/land', `${prefix}_LAND`, LISTS.bundesland, LAND),
    g.text('/ausbildungsgang', `${prefix}_STUDIENGANG`),
  ]);
}

const abgabe = defineMessageMapping<Abgabe0401>({
  type: abgabe0401,
  produkt: PRODUKT,
  rules: (f) => [
    ...kopf(f),
    f.text('/aktenzeichen', 'AKTENZEICHEN'),
    f.code('/abgabegrund', 'ABGABEGRUND', LISTS.abgabegrund, ABGABEGRUND),
    f.text('/auszubildender/familienname', 'NAME'),
    f.text('/auszubildender/geburtsname', 'GEBURTSNAME', { optional: true }),
    f.text('/auszubildender/vornamen', 'VORNAMEN'),
    f.text('/auszubildender/doktorgrad', 'TITEL', { optional: true }),
    f.date('/auszubildender/geburtsdatum', 'GEBURTSDATUM', 'de'),
    f.text('/auszubildender/anschrift/strasse', 'STRASSE'),
    f.text('/auszubildender/anschrift/hausnummer', 'HAUSNR', { optional: true }),
    f.text('/auszubildender/anschrift/postleitzahl', 'PLZ'),
    f.text('/auszubildender/anschrift/wohnort', 'ORT'),
    f.code('/auszubildender/anschrift/gemeindeschluessel', 'AGS', LISTS.ags),
    f.nested('/ausbildungsstaetteBisher', '', ausbildungsstaette('ALT')),
    f.nested('/ausbildungsstaetteNeu', '', ausbildungsstaette('NEU')),
    f.date('/wechselZum', 'WECHSEL_ZUM', 'de'),
    f.date('/bewilligungszeitraum/beginn', 'BWZ_BEGINN', 'de'),
    f.date('/bewilligungszeitraum/ende', 'BWZ_ENDE', 'de'),
    f.code('/foerderungsart', 'FOERDERUNGSART', LISTS.foerderungsart),
    f.decimal('/monatlicherBetrag', 'MONATSBETRAG', BETRAG),
    f.date('/gezahltBis', 'GEZAHLT_BIS', 'de'),
    f.convert('/rueckforderung', 'RUECKFORDERUNGEN', rueckforderungenConverter(), { default: [] }),
    f.text('/hinweis', 'HINWEIS', { optional: true }),
  ],
});

const uebernahme = defineMessageMapping<Uebernahme0402>({
  type: uebernahme0402,
  produkt: PRODUKT,
  rules: (f) => [
    ...kopf(f),
    f.choice('ENTSCHEIDUNG', {
      U: {
        pointer: '/entscheidung/uebernahme',
        mapping: defineMapping<NonNullable<Uebernahme0402['entscheidung']['uebernahme']>>((g) => [
          g.text('/aktenzeichen', 'AZ_NEU'),
          g.date('/fortsetzungAb', 'FORTSETZUNG_AB', 'de'),
        ]),
      },
      A: {
        pointer: '/entscheidung/ablehnung',
        mapping: defineMapping<NonNullable<Uebernahme0402['entscheidung']['ablehnung']>>((g) => [
          g.code('/grund', 'ABLEHNUNGSGRUND', LISTS.ablehnungsgrund, ABLEHNUNGSGRUND),
          g.text('/begruendung', 'BEGRUENDUNG', { optional: true }),
        ]),
      },
    }),
  ],
});

export default mappedAdapter({
  spec: { id: 'th-bafoeg', title: 'Amt für Ausbildungsförderung Thüringen (BAföG-TH)', land: 'TH' },
  format: csvFormat({ dialect: DIALECT, columns: COLUMNS }),
  typeField: 'SATZART',
  messages: { AB: abgabe, UE: uebernahme },
  roundTrip: {
    constraints: [
      'text is Windows-1252 without control characters other than tab and line breaks',
      'no text consists only of Â Ã Å Æ Ë â followed by 0x80–0xBF characters (read as a UTF-8 export)',
      'values carry no leading or trailing white space (the reader trims every field)',
      'offices are addressed by the AGS of their seat (afa: keys)',
      'erstellungszeitpunkt is not transmitted: it is the time of reading, in UTC',
      'produkt, produkthersteller and produktversion are those of BAföG-TH',
      'coded values carry no name, only the code',
    ],
    constrain(message) {
      let m = constrainTexts(withoutCodeNames(message), (text) =>
        avoidUtf8Lookalikes(fitCharset(text, 'windows-1252')).trim(),
      );
      m = setAt(m, '/nachrichtenkopf.g2g/identifikation.nachricht/erstellungszeitpunkt', (t: string) =>
        new Date(t).toISOString(),
      );
      for (const who of ['leser', 'autor']) {
        m = setAt(m, `/nachrichtenkopf.g2g/${who}/kennung`, (k: string) => k.replace(/^[a-z]+:/, 'afa:'));
      }
      return { ...m, ...PRODUKT } as XoevMessage;
    },
  },
});
