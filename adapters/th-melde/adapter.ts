/**
 * th-melde — the Meldewesen system of Thüringen (fictional "EWO-TH"). Exchanges batch exports:
 * CSV, semicolon-separated, Windows-1252, CRLF, one header line, one Vorgang per line; the column
 * SATZART says what a line is (RM = Rückmeldung 0201, AW = Auswertung 0203). One file from the
 * night run carries many Rückmeldungen. Dates are TT.MM.JJJJ, first names sit in three columns,
 * nationalities are DESTATIS codes separated by `|`, and sex and family status use the system's
 * own numeric codes. Receives in pull mode: each message as a one-line file of the same layout.
 */
import type { XoevMessage } from '../../standards/catalogue.ts';
import { auswertung0203, rueckmeldung0201 } from '../../standards/xmeld/25.11/index.ts';
import type { Auswertung0203, Rueckmeldung0201 } from '../../standards/xmeld/25.11/schema.ts';
import { LISTS } from '../../standards/xmeld/25.11/schema.ts';
import {
  avoidUtf8Lookalikes,
  constrainTexts,
  dropAt,
  fitCharset,
  setAt,
  withoutCodeNames,
} from '../sdk/constrain.ts';
import { type CsvDialect, csvFormat } from '../sdk/formats/csv.ts';
import { mappedAdapter } from '../sdk/mapped-adapter.ts';
import { defineMessageMapping } from '../sdk/mapping/message-mapping.ts';

const PRODUKT = {
  produkt: 'th-melde',
  produkthersteller: 'Freistaat Thüringen (fiktiv)',
  produktversion: '7.1.0',
};

const DIALECT: CsvDialect = { separator: ';', quote: '"', charset: 'windows-1252', lineEnding: '\r\n' };

/** Every column, in the order the night run writes them; AW lines leave the person columns empty. */
export const COLUMNS = [
  'SATZART',
  'VORGANGS_ID',
  'BEZUGS_ID',
  'TESTLAUF',
  'ABS_AGS',
  'ABS_BEHOERDE',
  'EMPF_AGS',
  'EMPF_BEHOERDE',
  'ANMELDEDATUM',
  'FAMILIENNAME',
  'GEBURTSNAME',
  'VORNAME_1',
  'VORNAME_2',
  'VORNAME_3',
  'DOKTORGRAD',
  'GEBURTSDATUM',
  'GEBURTSORT',
  'GESCHLECHT',
  'STAATSANGEHOERIGKEIT',
  'FAMILIENSTAND',
  'AUSKUNFTSSPERRE',
  'NEU_STRASSE',
  'NEU_HAUSNR',
  'NEU_PLZ',
  'NEU_ORT',
  'NEU_AGS',
  'NEU_EINZUG',
  'ALT_STRASSE',
  'ALT_HAUSNR',
  'ALT_PLZ',
  'ALT_ORT',
  'ALT_AGS',
  'ALT_EINZUG',
  'ERGEBNIS',
  'FORTSCHREIBUNG',
  'HINWEIS',
] as const;

export const GESCHLECHT = { '1': 'm', '2': 'w', '3': 'd', '4': 'x' };
export const FAMILIENSTAND = {
  '1': 'LD',
  '2': 'VH',
  '3': 'VW',
  '4': 'GS',
  '5': 'EA',
  '6': 'LP',
  '7': 'LV',
  '8': 'LA',
  '9': 'NB',
};
export const ERGEBNIS = { '1': '01', '2': '02', '3': '03', '4': '04' };
const J_N = { true: ['J'], false: ['N'] };

const rueckmeldung = defineMessageMapping<Rueckmeldung0201>({
  type: rueckmeldung0201,
  produkt: PRODUKT,
  rules: (f) => [
    f.bool('/test', 'TESTLAUF', J_N, { default: false }),
    f.uuid('/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtenUUID', 'VORGANGS_ID', {
      generate: true,
    }),
    f.timestamp('/nachrichtenkopf.g2g/identifikation.nachricht/erstellungszeitpunkt'),
    f.behoerde('/nachrichtenkopf.g2g/leser', { kennung: 'EMPF_AGS', name: 'EMPF_BEHOERDE', prefix: 'ags' }),
    f.behoerde('/nachrichtenkopf.g2g/autor', { kennung: 'ABS_AGS', name: 'ABS_BEHOERDE', prefix: 'ags' }),
    f.uuid('/nachrichtenkopf.g2g/referenzUUID', 'BEZUGS_ID', { optional: true }),
    f.date('/anmeldedatum', 'ANMELDEDATUM', 'de'),
    f.text('/person/familienname', 'FAMILIENNAME'),
    f.text('/person/geburtsname', 'GEBURTSNAME', { optional: true }),
    f.join('/person/vornamen', ['VORNAME_1', 'VORNAME_2', 'VORNAME_3']),
    f.text('/person/doktorgrad', 'DOKTORGRAD', { optional: true }),
    f.date('/person/geburt/datum', 'GEBURTSDATUM', 'de'),
    f.text('/person/geburt/geburtsort', 'GEBURTSORT'),
    f.code('/person/geschlecht', 'GESCHLECHT', LISTS.geschlecht, GESCHLECHT),
    f.codes('/person/staatsangehoerigkeit', 'STAATSANGEHOERIGKEIT', LISTS.staat, { separator: '|' }),
    f.code('/person/familienstand', 'FAMILIENSTAND', LISTS.familienstand, FAMILIENSTAND),
    f.bool('/person/auskunftssperre', 'AUSKUNFTSSPERRE', { true: ['1'], false: ['0'] }, { default: false }),
    ...(['neu', 'bisher'] as const).flatMap((w) => {
      const c = w === 'neu' ? 'NEU' : 'ALT';
      const p = `/wohnung.${w}` as const;
      return [
        f.text(`${p}/anschrift/strasse`, `${c}_STRASSE`),
        f.text(`${p}/anschrift/hausnummer`, `${c}_HAUSNR`, { optional: true }),
        f.text(`${p}/anschrift/postleitzahl`, `${c}_PLZ`),
        f.text(`${p}/anschrift/wohnort`, `${c}_ORT`),
        f.code(`${p}/anschrift/gemeindeschluessel`, `${c}_AGS`, LISTS.ags),
        f.date(`${p}/einzugsdatum`, `${c}_EINZUG`, 'de', { optional: true }),
      ];
    }),
  ],
});

const auswertung = defineMessageMapping<Auswertung0203>({
  type: auswertung0203,
  produkt: PRODUKT,
  rules: (f) => [
    f.bool('/test', 'TESTLAUF', J_N, { default: false }),
    f.uuid('/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtenUUID', 'VORGANGS_ID', {
      generate: true,
    }),
    f.timestamp('/nachrichtenkopf.g2g/identifikation.nachricht/erstellungszeitpunkt'),
    f.behoerde('/nachrichtenkopf.g2g/leser', { kennung: 'EMPF_AGS', name: 'EMPF_BEHOERDE', prefix: 'ags' }),
    f.behoerde('/nachrichtenkopf.g2g/autor', { kennung: 'ABS_AGS', name: 'ABS_BEHOERDE', prefix: 'ags' }),
    f.uuid('/nachrichtenkopf.g2g/referenzUUID', 'BEZUGS_ID'),
    f.code('/ergebnis', 'ERGEBNIS', LISTS.auswertungsergebnis, ERGEBNIS),
    f.date('/fortschreibungsdatum', 'FORTSCHREIBUNG', 'de', { optional: true }),
    f.text('/hinweis', 'HINWEIS', { optional: true }),
  ],
});

export default mappedAdapter({
  spec: { id: 'th-melde', title: 'Meldewesen Thüringen', land: 'TH' },
  format: csvFormat({ dialect: DIALECT, columns: COLUMNS }),
  typeField: 'SATZART',
  messages: { RM: rueckmeldung, AW: auswertung },
  roundTrip: {
    constraints: [
      'text is Windows-1252 without control characters other than tab and line breaks',
      'no text consists only of Â Ã Å Æ Ë â followed by 0x80–0xBF characters (read as a UTF-8 export)',
      'values carry no leading or trailing white space (the reader trims every field)',
      'first names are at most three space-separated groups (VORNAME_1..3; the third takes the rest)',
      'authorities are addressed by AGS (ags: keys)',
      'erstellungszeitpunkt is not transmitted: it is the time of reading, in UTC',
      'produkt, produkthersteller and produktversion are those of th-melde',
      'coded values carry no name, only the code; the place of birth carries no state (geburtsstaat)',
    ],
    constrain(message) {
      let m = constrainTexts(withoutCodeNames(message), (text) =>
        avoidUtf8Lookalikes(fitCharset(text, 'windows-1252')).trim(),
      );
      m = setAt(m, '/nachrichtenkopf.g2g/identifikation.nachricht/erstellungszeitpunkt', (t: string) =>
        new Date(t).toISOString(),
      );
      for (const who of ['leser', 'autor']) {
        m = setAt(m, `/nachrichtenkopf.g2g/${who}/kennung`, (k: string) => k.replace(/^[a-z]+:/, 'ags:'));
      }
      m = setAt(m, '/person/vornamen', (v: string) =>
        v
          .split(' ')
          .filter(Boolean)
          .map((w) => w.trim())
          .filter(Boolean)
          .join(' '),
      );
      m = dropAt(m, '/person/geburt/geburtsstaat');
      return { ...m, ...PRODUKT } as XoevMessage;
    },
  },
});
