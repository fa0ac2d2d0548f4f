/**
 * sn-bafoeg — the Ämter für Ausbildungsförderung of Sachsen (fictional procedure "BAföG-SN", REST
 * interface 2). Hands student files over to the office now responsible (XBAföG 0401) and answers
 * files handed to it (0402), in JSON: `vorgangsart` names the message, dates are ISO, amounts are
 * strings with a decimal point, and reasons, kinds of institution and Länder are the system's own
 * words and abbreviations (HOCHSCHULWECHSEL, UNIVERSITAET, SN).
 */
import type { MessageTypeSpec, XoevMessage } from '../../standards/catalogue.ts';
import { abgabe0401, uebernahme0402 } from '../../standards/xbafoeg/1.0/index.ts';
import type { Abgabe0401, Uebernahme0402 } from '../../standards/xbafoeg/1.0/schema.ts';
import { LISTS } from '../../standards/xbafoeg/1.0/schema.ts';
import { MAPPER_CONSTRAINTS, mapperConstraints } from '../sdk/constrain.ts';
import { jsonFormat } from '../sdk/formats/json.ts';
import { mappedAdapter } from '../sdk/mapped-adapter.ts';
import { defineMapping, type Fields, type Rule } from '../sdk/mapping/define.ts';
import { defineMessageMapping } from '../sdk/mapping/message-mapping.ts';

const PRODUKT = {
  produkt: 'BAföG-SN',
  produkthersteller: 'Sächsisches Staatsministerium für Wissenschaft (fiktiv)',
  produktversion: '2.4.0',
};

export const ABGABEGRUND = {
  HOCHSCHULWECHSEL: '01',
  WOHNSITZWECHSEL_ELTERN: '02',
  AUSLANDSAUSBILDUNG: '03',
  SONSTIGES: '99',
};
export const STAETTENART = {
  UNIVERSITAET: '01',
  HAW: '02',
  KUNSTHOCHSCHULE: '03',
  AKADEMIE: '04',
  HOEHERE_FACHSCHULE: '05',
  FACHSCHULE: '06',
  BERUFSFACHSCHULE: '07',
  KOLLEG: '08',
};
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
export const FOERDERUNGSART = { ZUSCHUSS_DARLEHEN: '01', VOLLZUSCHUSS: '02', BANKDARLEHEN: '03' };
export const RUECKFORDERUNGSGRUND = {
  UEBERZAHLUNG: '01',
  ABBRUCH: '02',
  VORBEHALT: '03',
  VERMOEGEN: '04',
  SONSTIGES: '99',
};
export const ABLEHNUNGSGRUND = {
  NICHT_ZUSTAENDIG: '01',
  KEINE_IMMATRIKULATION: '02',
  AKTE_UNVOLLSTAENDIG: '03',
  ANDERWEITIG_ANHAENGIG: '04',
  SONSTIGES: '99',
};

function kopf<T extends Abgabe0401 | Uebernahme0402>(f: Fields<T>): Rule[] {
  const g = f as unknown as Fields<Uebernahme0402>;
  return [
    g.uuid('/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtenUUID', 'vorgang.id', { generate: true }),
    g.uuid('/nachrichtenkopf.g2g/referenzUUID', 'vorgang.bezugId', { optional: true }),
    g.timestamp('/nachrichtenkopf.g2g/identifikation.nachricht/erstellungszeitpunkt', 'vorgang.erstellt'),
    g.bool('/test', 'vorgang.testfall', undefined, { default: false }),
    g.behoerde('/nachrichtenkopf.g2g/autor', { kennung: 'absender.amt', name: 'absender.bezeichnung' }),
    g.behoerde('/nachrichtenkopf.g2g/leser', { kennung: 'empfaenger.amt', name: 'empfaenger.bezeichnung' }),
    g.text('/foerderungsnummer', 'foerderungsnummer'),
  ];
}

const ausbildungsstaette = defineMapping<Abgabe0401['ausbildungsstaetteNeu']>((g) => [
  g.text('/bezeichnung', 'name'),
  g.code('/art', 'art', LISTS.ausbildungsstaettenart, STAETTENART),
  g.text('/ort', 'ort'),
  g.code('/land', 'land', LISTS.bundesland, LAND),
  g.text('/ausbildungsgang', 'studiengang'),
]);

const abgabe = defineMessageMapping<Abgabe0401>({
  type: abgabe0401,
  produkt: PRODUKT,
  rules: (f) => [
    ...kopf(f),
    f.text('/aktenzeichen', 'aktenzeichen'),
    f.code('/abgabegrund', 'abgabegrund', LISTS.abgabegrund, ABGABEGRUND),
    f.text('/auszubildender/familienname', 'person.nachname'),
    f.text('/auszubildender/geburtsname', 'person.geburtsname', { optional: true }),
    f.text('/auszubildender/vornamen', 'person.vornamen'),
    f.text('/auszubildender/doktorgrad', 'person.titel', { optional: true }),
    f.date('/auszubildender/geburtsdatum', 'person.geburtsdatum', 'iso'),
    f.text('/auszubildender/anschrift/strasse', 'person.anschrift.strasse'),
    f.text('/auszubildender/anschrift/hausnummer', 'person.anschrift.hausnummer', { optional: true }),
    f.text('/auszubildender/anschrift/postleitzahl', 'person.anschrift.plz'),
    f.text('/auszubildender/anschrift/wohnort', 'person.anschrift.ort'),
    f.code('/auszubildender/anschrift/gemeindeschluessel', 'person.anschrift.ags', LISTS.ags),
    f.nested('/ausbildungsstaetteBisher', 'bisher', ausbildungsstaette),
    f.nested('/ausbildungsstaetteNeu', 'neu', ausbildungsstaette),
    f.date('/wechselZum', 'wechselZum', 'iso'),
    f.date('/bewilligungszeitraum/beginn', 'bewilligungszeitraum.von', 'iso'),
    f.date('/bewilligungszeitraum/ende', 'bewilligungszeitraum.bis', 'iso'),
    f.code('/foerderungsart', 'foerderungsart', LISTS.foerderungsart, FOERDERUNGSART),
    f.decimal('/monatlicherBetrag', 'monatsbetrag'),
    f.date('/gezahltBis', 'gezahltBis', 'iso'),
    f.each(
      '/rueckforderung',
      'rueckforderungen',
      defineMapping<Abgabe0401['rueckforderung'][number]>((g) => [
        g.code('/grund', 'grund', LISTS.rueckforderungsgrund, RUECKFORDERUNGSGRUND),
        g.date('/bescheiddatum', 'bescheidVom', 'iso'),
        g.decimal('/offenerBetrag', 'offen'),
      ]),
      { minItems: 0 },
    ),
    f.text('/hinweis', 'hinweis', { optional: true }),
  ],
});

const uebernahme = defineMessageMapping<Uebernahme0402>({
  type: uebernahme0402,
  produkt: PRODUKT,
  rules: (f) => [
    ...kopf(f),
    f.choice('ergebnis', {
      UEBERNOMMEN: {
        pointer: '/entscheidung/uebernahme',
        mapping: defineMapping<NonNullable<Uebernahme0402['entscheidung']['uebernahme']>>((g) => [
          g.text('/aktenzeichen', 'aktenzeichenNeu'),
          g.date('/fortsetzungAb', 'fortsetzungAb', 'iso'),
        ]),
      },
      ABGELEHNT: {
        pointer: '/entscheidung/ablehnung',
        mapping: defineMapping<NonNullable<Uebernahme0402['entscheidung']['ablehnung']>>((g) => [
          g.code('/grund', 'ablehnungsgrund', LISTS.ablehnungsgrund, ABLEHNUNGSGRUND),
          g.text('/begruendung', 'begruendung', { optional: true }),
        ]),
      },
    }),
  ],
});

export default mappedAdapter({
  spec: { id: 'sn-bafoeg', title: 'Ämter für Ausbildungsförderung Sachsen (BAföG-SN)', land: 'SN' },
  format: jsonFormat(),
  typeField: 'vorgangsart',
  messages: { AKTENABGABE: abgabe, UEBERNAHME: uebernahme },
  roundTrip: {
    constraints: [
      ...MAPPER_CONSTRAINTS,
      'produkt, produkthersteller and produktversion are those of BAföG-SN',
    ],
    constrain: (message: XoevMessage, _spec: MessageTypeSpec) => ({
      ...mapperConstraints(message),
      ...PRODUKT,
    }),
  },
});
