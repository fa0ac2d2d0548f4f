/**
 * st-melde — the Meldewesen system of Sachsen-Anhalt (fictional). Speaks its own legacy XML
 * dialect ("Schnittstelle 3"): German element names, dates as TT.MM.JJJJ, its own codes for sex
 * (1–4), family status (led/verh/…), nationality (ISO 3166 alpha-2) and J/N flags. The value maps
 * below are the whole translation table; both directions use them.
 */
import type { XoevMessage } from '../../standards/catalogue.ts';
import { auswertung0203, rueckmeldung0201 } from '../../standards/xmeld/25.11/index.ts';
import type { Auswertung0203, Rueckmeldung0201 } from '../../standards/xmeld/25.11/schema.ts';
import { LISTS } from '../../standards/xmeld/25.11/schema.ts';
import { dropAt, MAPPER_CONSTRAINTS, mapperConstraints, setAt } from '../sdk/constrain.ts';
import { xmlDialectFormat } from '../sdk/formats/xml-dialect.ts';
import { mappedAdapter } from '../sdk/mapped-adapter.ts';
import type { Fields, Rule } from '../sdk/mapping/define.ts';
import { defineMessageMapping } from '../sdk/mapping/message-mapping.ts';

const PRODUKT = {
  produkt: 'st-melde',
  produkthersteller: 'Land Sachsen-Anhalt (fiktiv)',
  produktversion: '3.2.7',
};

export const GESCHLECHT: Record<string, string> = { '1': 'm', '2': 'w', '3': 'd', '4': 'x' };
export const FAMILIENSTAND: Record<string, string> = {
  led: 'LD',
  verh: 'VH',
  verw: 'VW',
  gesch: 'GS',
  aufg: 'EA',
  lp: 'LP',
  lpv: 'LV',
  lpa: 'LA',
  unb: 'NB',
};
export const STAAT: Record<string, string> = {
  DE: '000',
  AL: '121',
  BE: '124',
  BG: '125',
  DK: '126',
  FR: '129',
  GR: '134',
  IT: '137',
  NL: '148',
  AT: '151',
  PL: '152',
  RO: '154',
  RU: '160',
  TR: '163',
  CZ: '164',
  UA: '166',
  US: '368',
  AF: '423',
  IQ: '461',
  SY: '475',
  XX: '996',
  XS: '997',
};
export const ERGEBNIS: Record<string, string> = {
  FORTGESCHRIEBEN: '01',
  FORTGESCHRIEBEN_ABW: '02',
  NICHT_GEFUNDEN: '03',
  ABGELEHNT: '04',
};
const J_N = { true: ['J'], false: ['N'] };

/** The Kopf: ids, the two authorities (AGS in @Gemeinde, name as text) and the test flag. */
function kopf<T extends Rueckmeldung0201 | Auswertung0203>(f: Fields<T>): Rule[] {
  const g = f as unknown as Fields<Rueckmeldung0201>;
  return [
    g.uuid('/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtenUUID', 'Kopf.VorgangsID', {
      generate: true,
    }),
    g.uuid('/nachrichtenkopf.g2g/referenzUUID', 'Kopf.BezugID', { optional: true }),
    g.behoerde('/nachrichtenkopf.g2g/autor', {
      kennung: 'Kopf.Absender.@Gemeinde',
      name: 'Kopf.Absender.#text',
      prefix: 'ags',
    }),
    g.behoerde('/nachrichtenkopf.g2g/leser', {
      kennung: 'Kopf.Empfaenger.@Gemeinde',
      name: 'Kopf.Empfaenger.#text',
      prefix: 'ags',
    }),
    g.bool('/test', 'Kopf.Testlauf', J_N, { default: false }),
    g.timestamp('/nachrichtenkopf.g2g/identifikation.nachricht/erstellungszeitpunkt'),
  ];
}

function anschrift(
  f: Fields<Rueckmeldung0201>,
  pointer: '/wohnung.neu' | '/wohnung.bisher',
  native: string,
): Rule[] {
  return [
    f.code(`${pointer}/anschrift/gemeindeschluessel`, `${native}.@Gemeinde`, LISTS.ags),
    f.text(`${pointer}/anschrift/strasse`, `${native}.Strasse`),
    f.text(`${pointer}/anschrift/hausnummer`, `${native}.HausNr`, { optional: true }),
    f.text(`${pointer}/anschrift/postleitzahl`, `${native}.PLZ`),
    f.text(`${pointer}/anschrift/wohnort`, `${native}.Ort`),
    f.date(`${pointer}/einzugsdatum`, `${native}.Einzug`, 'de', { optional: true }),
  ];
}

const rueckmeldung = defineMessageMapping<Rueckmeldung0201>({
  type: rueckmeldung0201,
  produkt: PRODUKT,
  rules: (f) => [
    ...kopf(f),
    f.text('/person/familienname', 'Einwohner.Name'),
    f.text('/person/geburtsname', 'Einwohner.Geburtsname', { optional: true }),
    f.text('/person/vornamen', 'Einwohner.Vorname'),
    f.text('/person/doktorgrad', 'Einwohner.AkadGrad', { optional: true }),
    f.date('/person/geburt/datum', 'Einwohner.GebDatum', 'de'),
    f.text('/person/geburt/geburtsort', 'Einwohner.GebOrt'),
    f.code('/person/geschlecht', 'Einwohner.Geschl', LISTS.geschlecht, GESCHLECHT),
    f.codes('/person/staatsangehoerigkeit', 'Einwohner.Staatsang', LISTS.staat, { valueMap: STAAT }),
    f.code('/person/familienstand', 'Einwohner.FamStand', LISTS.familienstand, FAMILIENSTAND),
    f.bool('/person/auskunftssperre', 'Einwohner.Sperre', J_N, { default: false }),
    f.date('/anmeldedatum', 'Anmeldung.@Datum', 'de'),
    ...anschrift(f, '/wohnung.neu', 'AnschriftNeu'),
    ...anschrift(f, '/wohnung.bisher', 'AnschriftAlt'),
  ],
});

const auswertung = defineMessageMapping<Auswertung0203>({
  type: auswertung0203,
  produkt: PRODUKT,
  rules: (f) => [
    ...kopf(f),
    f.code('/ergebnis', 'Auswertung.@Ergebnis', LISTS.auswertungsergebnis, ERGEBNIS),
    f.date('/fortschreibungsdatum', 'Auswertung.@Datum', 'de', { optional: true }),
    f.text('/hinweis', 'Auswertung.#text', { optional: true }),
  ],
});

export default mappedAdapter({
  spec: {
    id: 'st-melde',
    title: 'Meldewesen Sachsen-Anhalt',
    land: 'ST',
    format:
      'Legacy XML dialect "Schnittstelle 3" (UTF-8): German element names, TT.MM.JJJJ dates, own code tables',
  },
  format: xmlDialectFormat({
    root: 'MeldeVorgang',
    namespace: 'urn:st-melde:schnittstelle:3',
    rootAttributes: { '@Version': '3.2' },
    arrays: ['Staatsang'],
  }),
  typeField: '@Art',
  messages: { 'RM-ANM': rueckmeldung, 'RM-AUSW': auswertung },
  roundTrip: {
    constraints: [
      ...MAPPER_CONSTRAINTS,
      'authorities are addressed by AGS (ags: keys; the prefix is implicit)',
      'erstellungszeitpunkt is not transmitted: it is the time of reading, in UTC',
      'the place of birth carries no state (Schnittstelle 3 has no field for geburtsstaat)',
      'produkt, produkthersteller and produktversion are those of st-melde',
    ],
    constrain(message) {
      let m = dropAt(mapperConstraints(message), '/person/geburt/geburtsstaat');
      for (const who of ['leser', 'autor'])
        m = setAt(m, `/nachrichtenkopf.g2g/${who}/kennung`, (k: string) => k.replace(/^[a-z]+:/, 'ags:'));
      m = setAt(m, '/nachrichtenkopf.g2g/identifikation.nachricht/erstellungszeitpunkt', (t: string) =>
        new Date(t).toISOString(),
      );
      return { ...m, ...PRODUKT } as XoevMessage;
    },
  },
});
