/**
 * sn-elterngeld — the Elterngeldstellen of Sachsen (fictional procedure "ELSA", interface 4.0).
 * Receives applications (XElterngeld 0101) and answers with decisions (0102) or requests for
 * missing documents (0103), in an XML dialect: root <ElsaNachricht Art="ANTRAG|BESCHEID|
 * NACHFORDERUNG">, dates TT.MM.JJJJ, amounts with decimal comma (`1.624,35`), J/N flags, sex as
 * M/W/D/X, and lists as repeated elements (<Monat Nr="1" Art="BEG"/>).
 */
import type { MessageTypeSpec, XoevMessage } from '../../standards/catalogue.ts';
import { antrag0101, bescheid0102, nachforderung0103 } from '../../standards/xelterngeld/1.2/index.ts';
import type { Antrag0101, Bescheid0102, Nachforderung0103 } from '../../standards/xelterngeld/1.2/schema.ts';
import { LISTS } from '../../standards/xelterngeld/1.2/schema.ts';
import { MAPPER_CONSTRAINTS, mapperConstraints } from '../sdk/constrain.ts';
import { xmlDialectFormat } from '../sdk/formats/xml-dialect.ts';
import { mappedAdapter } from '../sdk/mapped-adapter.ts';
import { defineMapping, type Fields, type Rule } from '../sdk/mapping/define.ts';
import { defineMessageMapping } from '../sdk/mapping/message-mapping.ts';

const PRODUKT = {
  produkt: 'ELSA Sachsen',
  produkthersteller: 'Kommunale Informationsverarbeitung Sachsen (fiktiv)',
  produktversion: '4.0.3',
};

export const GESCHLECHT = { M: 'm', W: 'w', D: 'd', X: 'x' };
const J_N = { true: ['J'], false: ['N'] };
const BETRAG = { decimalSeparator: ',', groupSeparator: '.' } as const;

/** Vorgang (ids, time, test flag) and the two parties: the same in all three message types. */
function kopf<T extends Antrag0101 | Bescheid0102 | Nachforderung0103>(f: Fields<T>): Rule[] {
  const g = f as unknown as Fields<Antrag0101>;
  return [
    g.uuid('/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtenUUID', 'Vorgang.@Id', {
      generate: true,
    }),
    g.uuid('/nachrichtenkopf.g2g/referenzUUID', 'Vorgang.@Bezug', { optional: true }),
    g.timestamp('/nachrichtenkopf.g2g/identifikation.nachricht/erstellungszeitpunkt', 'Vorgang.@Erstellt'),
    g.bool('/test', 'Vorgang.@Test', J_N, { default: false }),
    g.behoerde('/nachrichtenkopf.g2g/autor', { kennung: 'Von.@Kennung', name: 'Von.#text' }),
    g.behoerde('/nachrichtenkopf.g2g/leser', { kennung: 'An.@Kennung', name: 'An.#text' }),
  ];
}

const antrag = defineMessageMapping<Antrag0101>({
  type: antrag0101,
  produkt: PRODUKT,
  rules: (f) => [
    ...kopf(f),
    f.date('/antragsdatum', 'Antrag.@Datum', 'de'),
    f.text('/antragsteller/familienname', 'Antrag.Person.Name'),
    f.text('/antragsteller/geburtsname', 'Antrag.Person.Geburtsname', { optional: true }),
    f.text('/antragsteller/vornamen', 'Antrag.Person.Vornamen'),
    f.text('/antragsteller/doktorgrad', 'Antrag.Person.Titel', { optional: true }),
    f.date('/antragsteller/geburt/datum', 'Antrag.Person.GebDatum', 'de'),
    f.text('/antragsteller/geburt/geburtsort', 'Antrag.Person.GebOrt'),
    f.code('/antragsteller/geburt/geburtsstaat', 'Antrag.Person.GebStaat', LISTS.staat, undefined, {
      optional: true,
    }),
    f.code('/antragsteller/geschlecht', 'Antrag.Person.Geschlecht', LISTS.geschlecht, GESCHLECHT),
    f.codes('/antragsteller/staatsangehoerigkeit', 'Antrag.Person.Staatsangehoerigkeit', LISTS.staat),
    f.code('/antragsteller/anschrift/gemeindeschluessel', 'Antrag.Person.Anschrift.@AGS', LISTS.ags),
    f.text('/antragsteller/anschrift/strasse', 'Antrag.Person.Anschrift.Strasse'),
    f.text('/antragsteller/anschrift/hausnummer', 'Antrag.Person.Anschrift.HausNr', { optional: true }),
    f.text('/antragsteller/anschrift/postleitzahl', 'Antrag.Person.Anschrift.PLZ'),
    f.text('/antragsteller/anschrift/wohnort', 'Antrag.Person.Anschrift.Ort'),
    f.text('/antragsteller/steuerIdentifikationsnummer', 'Antrag.Person.SteuerID'),
    f.nested(
      '/andererElternteil',
      'Antrag.Partner',
      defineMapping<NonNullable<Antrag0101['andererElternteil']>>((g) => [
        g.text('/familienname', 'Name'),
        g.text('/vornamen', 'Vornamen'),
        g.date('/geburtsdatum', 'GebDatum', 'de'),
      ]),
      { optional: true },
    ),
    f.bool('/kind/mehrlingsgeburt', 'Antrag.Kind.@Mehrling', J_N, { default: false }),
    f.text('/kind/familienname', 'Antrag.Kind.Name'),
    f.text('/kind/vornamen', 'Antrag.Kind.Vornamen'),
    f.date('/kind/geburtsdatum', 'Antrag.Kind.GebDatum', 'de'),
    f.each(
      '/bezug',
      'Antrag.Monat',
      defineMapping<Antrag0101['bezug'][number]>((g) => [
        g.number('/lebensmonat', '@Nr'),
        g.code('/leistungsvariante', '@Art', LISTS.leistungsvariante),
      ]),
    ),
    f.each(
      '/einkommensnachweis',
      'Antrag.Einkommen',
      defineMapping<Antrag0101['einkommensnachweis'][number]>((g) => [
        g.code('/unterlagenart', '@Art', LISTS.unterlagenart),
        g.date('/zeitraumVon', '@Von', 'de'),
        g.date('/zeitraumBis', '@Bis', 'de'),
        g.decimal('/bruttobetrag', '@Brutto', BETRAG, { optional: true }),
      ]),
      { minItems: 0 },
    ),
    f.text('/bankverbindung/iban', 'Antrag.Konto.@IBAN'),
    f.text('/bankverbindung/kontoinhaber', 'Antrag.Konto.@Inhaber'),
    f.text('/zustaendigeStelle/kennung', 'Antrag.Zustaendig.@Kennung'),
    f.text('/zustaendigeStelle/name', 'Antrag.Zustaendig.#text'),
  ],
});

const bescheid = defineMessageMapping<Bescheid0102>({
  type: bescheid0102,
  produkt: PRODUKT,
  rules: (f) => [
    ...kopf(f),
    f.text('/aktenzeichen', 'Bescheid.@Az'),
    f.date('/bescheiddatum', 'Bescheid.@Datum', 'de'),
    f.code('/entscheidung', 'Bescheid.@Entscheidung', LISTS.entscheidung),
    f.each(
      '/bewilligung',
      'Bescheid.Monat',
      defineMapping<Bescheid0102['bewilligung'][number]>((g) => [
        g.number('/lebensmonat', '@Nr'),
        g.code('/leistungsvariante', '@Art', LISTS.leistungsvariante),
        g.decimal('/betrag', '@Betrag', BETRAG),
      ]),
      { minItems: 0 },
    ),
    f.text('/begruendung', 'Bescheid.Begruendung', { optional: true }),
    f.text('/rechtsbehelfsbelehrung', 'Bescheid.Rechtsbehelf'),
  ],
});

const nachforderung = defineMessageMapping<Nachforderung0103>({
  type: nachforderung0103,
  produkt: PRODUKT,
  rules: (f) => [
    ...kopf(f),
    f.text('/aktenzeichen', 'Nachforderung.@Az'),
    f.date('/frist', 'Nachforderung.@Frist', 'de'),
    f.each(
      '/fehlendeUnterlage',
      'Nachforderung.Unterlage',
      defineMapping<Nachforderung0103['fehlendeUnterlage'][number]>((g) => [
        g.code('/unterlagenart', '@Art', LISTS.unterlagenart),
        g.text('/erlaeuterung', '#text', { optional: true }),
      ]),
    ),
    f.text('/hinweis', 'Nachforderung.Hinweis', { optional: true }),
  ],
});

export default mappedAdapter({
  spec: { id: 'sn-elterngeld', title: 'Elterngeldstellen Sachsen (ELSA)', land: 'SN' },
  format: xmlDialectFormat({
    root: 'ElsaNachricht',
    namespace: 'urn:sn-elterngeld:elsa:4',
    rootAttributes: { '@Version': '4.0' },
    arrays: ['Staatsangehoerigkeit', 'Monat', 'Einkommen', 'Unterlage'],
  }),
  typeField: '@Art',
  messages: { ANTRAG: antrag, BESCHEID: bescheid, NACHFORDERUNG: nachforderung },
  roundTrip: {
    constraints: [
      ...MAPPER_CONSTRAINTS,
      'produkt, produkthersteller and produktversion are those of ELSA Sachsen',
    ],
    constrain: (message: XoevMessage, _spec: MessageTypeSpec) => ({
      ...mapperConstraints(message),
      ...PRODUKT,
    }),
  },
});
