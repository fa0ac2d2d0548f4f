/**
 * st-bafoeg — the Ämter für Ausbildungsförderung of Sachsen-Anhalt (fictional procedure "DIALOG",
 * interface 3, from the early 2000s). Hands files over (XBAföG 0401) and answers hand-overs (0402)
 * in an XML dialect: root <DialogNachricht Typ="ABGABE|ANTWORT">, most values in attributes, dates
 * compact (JJJJMMTT), amounts with decimal comma and no grouping (`1020,00`), test flag 1/0,
 * institutions and Länder by the standard's codes, offices by their full DVDV key.
 */
import type { MessageTypeSpec, XoevMessage } from '../../standards/catalogue.ts';
import { abgabe0401, uebernahme0402 } from '../../standards/xbafoeg/1.0/index.ts';
import type { Abgabe0401, Uebernahme0402 } from '../../standards/xbafoeg/1.0/schema.ts';
import { LISTS } from '../../standards/xbafoeg/1.0/schema.ts';
import { MAPPER_CONSTRAINTS, mapperConstraints, setAt } from '../sdk/constrain.ts';
import { xmlDialectFormat } from '../sdk/formats/xml-dialect.ts';
import { mappedAdapter } from '../sdk/mapped-adapter.ts';
import { defineMapping, type Fields, type Rule } from '../sdk/mapping/define.ts';
import { defineMessageMapping } from '../sdk/mapping/message-mapping.ts';

const PRODUKT = {
  produkt: 'DIALOG BAföG Sachsen-Anhalt',
  produkthersteller: 'Landesrechenzentrum Sachsen-Anhalt (fiktiv)',
  produktversion: '3.1.7',
};

const EINS_NULL = { true: ['1'], false: ['0'] };
const BETRAG = { decimalSeparator: ',' } as const;

function kopf<T extends Abgabe0401 | Uebernahme0402>(f: Fields<T>): Rule[] {
  const g = f as unknown as Fields<Uebernahme0402>;
  return [
    g.uuid('/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtenUUID', 'Kopf.@NachrichtId', {
      generate: true,
    }),
    g.uuid('/nachrichtenkopf.g2g/referenzUUID', 'Kopf.@BezugId', { optional: true }),
    g.timestamp('/nachrichtenkopf.g2g/identifikation.nachricht/erstellungszeitpunkt'),
    g.bool('/test', 'Kopf.@Test', EINS_NULL, { default: false }),
    g.behoerde('/nachrichtenkopf.g2g/autor', { kennung: 'Absender.@Amt', name: 'Absender.#text' }),
    g.behoerde('/nachrichtenkopf.g2g/leser', { kennung: 'Empfaenger.@Amt', name: 'Empfaenger.#text' }),
  ];
}

const staette = defineMapping<Abgabe0401['ausbildungsstaetteNeu']>((g) => [
  g.code('/art', '@Art', LISTS.ausbildungsstaettenart),
  g.code('/land', '@Land', LISTS.bundesland),
  g.text('/ort', '@Ort'),
  g.text('/bezeichnung', 'Name'),
  g.text('/ausbildungsgang', 'Fach'),
]);

const abgabe = defineMessageMapping<Abgabe0401>({
  type: abgabe0401,
  produkt: PRODUKT,
  rules: (f) => [
    ...kopf(f),
    f.text('/foerderungsnummer', 'Akte.@FoerdNr'),
    f.text('/aktenzeichen', 'Akte.@Az'),
    f.code('/abgabegrund', 'Akte.@Grund', LISTS.abgabegrund),
    f.date('/wechselZum', 'Akte.@Wechsel', 'compact'),
    f.text('/auszubildender/familienname', 'Akte.Azubi.Name'),
    f.text('/auszubildender/geburtsname', 'Akte.Azubi.GebName', { optional: true }),
    f.text('/auszubildender/vornamen', 'Akte.Azubi.Vorname'),
    f.text('/auszubildender/doktorgrad', 'Akte.Azubi.Titel', { optional: true }),
    f.date('/auszubildender/geburtsdatum', 'Akte.Azubi.@GebDat', 'compact'),
    f.code('/auszubildender/anschrift/gemeindeschluessel', 'Akte.Azubi.Anschrift.@AGS', LISTS.ags),
    f.text('/auszubildender/anschrift/postleitzahl', 'Akte.Azubi.Anschrift.@PLZ'),
    f.text('/auszubildender/anschrift/strasse', 'Akte.Azubi.Anschrift.Str'),
    f.text('/auszubildender/anschrift/hausnummer', 'Akte.Azubi.Anschrift.HNr', { optional: true }),
    f.text('/auszubildender/anschrift/wohnort', 'Akte.Azubi.Anschrift.Ort'),
    f.nested('/ausbildungsstaetteBisher', 'Akte.StaetteAlt', staette),
    f.nested('/ausbildungsstaetteNeu', 'Akte.StaetteNeu', staette),
    f.date('/bewilligungszeitraum/beginn', 'Akte.Bewilligung.@Von', 'compact'),
    f.date('/bewilligungszeitraum/ende', 'Akte.Bewilligung.@Bis', 'compact'),
    f.code('/foerderungsart', 'Akte.Bewilligung.@Art', LISTS.foerderungsart),
    f.decimal('/monatlicherBetrag', 'Akte.Bewilligung.@Monatsbetrag', BETRAG),
    f.date('/gezahltBis', 'Akte.Bewilligung.@GezahltBis', 'compact'),
    f.each(
      '/rueckforderung',
      'Akte.Rueckforderung',
      defineMapping<Abgabe0401['rueckforderung'][number]>((g) => [
        g.code('/grund', '@Grund', LISTS.rueckforderungsgrund),
        g.date('/bescheiddatum', '@Bescheid', 'compact'),
        g.decimal('/offenerBetrag', '@Offen', BETRAG),
      ]),
      { minItems: 0 },
    ),
    f.text('/hinweis', 'Akte.Bemerkung', { optional: true }),
  ],
});

const antwort = defineMessageMapping<Uebernahme0402>({
  type: uebernahme0402,
  produkt: PRODUKT,
  rules: (f) => [
    ...kopf(f),
    f.text('/foerderungsnummer', 'Antwort.@FoerdNr'),
    f.choice('Antwort.@Ergebnis', {
      UEBERNAHME: {
        pointer: '/entscheidung/uebernahme',
        mapping: defineMapping<NonNullable<Uebernahme0402['entscheidung']['uebernahme']>>((g) => [
          g.text('/aktenzeichen', 'Antwort.Uebernahme.@Az'),
          g.date('/fortsetzungAb', 'Antwort.Uebernahme.@Ab', 'compact'),
        ]),
      },
      ABLEHNUNG: {
        pointer: '/entscheidung/ablehnung',
        mapping: defineMapping<NonNullable<Uebernahme0402['entscheidung']['ablehnung']>>((g) => [
          g.code('/grund', 'Antwort.Ablehnung.@Grund', LISTS.ablehnungsgrund),
          g.text('/begruendung', 'Antwort.Ablehnung.Begruendung', { optional: true }),
        ]),
      },
    }),
  ],
});

export default mappedAdapter({
  spec: { id: 'st-bafoeg', title: 'Ämter für Ausbildungsförderung Sachsen-Anhalt (DIALOG)', land: 'ST' },
  format: xmlDialectFormat({
    root: 'DialogNachricht',
    namespace: 'urn:st-bafoeg:dialog:3',
    rootAttributes: { '@Version': '3.1' },
    arrays: ['Rueckforderung'],
  }),
  typeField: '@Typ',
  messages: { ABGABE: abgabe, ANTWORT: antwort },
  roundTrip: {
    constraints: [
      ...MAPPER_CONSTRAINTS,
      'erstellungszeitpunkt is not transmitted: it is the time of reading, in UTC',
      'produkt, produkthersteller and produktversion are those of DIALOG BAföG Sachsen-Anhalt',
    ],
    constrain(message: XoevMessage, _spec: MessageTypeSpec) {
      const m = setAt(
        mapperConstraints(message),
        '/nachrichtenkopf.g2g/identifikation.nachricht/erstellungszeitpunkt',
        (t: string) => new Date(t).toISOString(),
      );
      return { ...m, ...PRODUKT } as XoevMessage;
    },
  },
});
