/**
 * th-kfz — the vehicle registration authorities of Thüringen (fictional procedure "TH-ZUL",
 * interface version 2.1). Speaks an XML dialect: root <ZulassungsVorgang Typ="ZUL|HW|ABM">, German
 * element names, dates TT.MM.JJJJ, identifiers in attributes (FIN, Kennzeichen Bezirk/Nummer,
 * authority keys), the inspection month as two attributes <HU Monat="6" Jahr="2027"/> (a code
 * hook: two native fields, one standard field), and a keeper as <Person> or <Firma>.
 */
import type { MessageTypeSpec, XoevMessage } from '../../standards/catalogue.ts';
import {
  ausserbetriebsetzung1003,
  halterwechsel1002,
  zulassung1001,
} from '../../standards/xkfz/1.4/index.ts';
import type {
  Ausserbetriebsetzung1003,
  Halter,
  Halterwechsel1002,
  Kennzeichen,
  Zulassung1001,
} from '../../standards/xkfz/1.4/schema.ts';
import { LISTS } from '../../standards/xkfz/1.4/schema.ts';
import { MAPPER_CONSTRAINTS, mapperConstraints } from '../sdk/constrain.ts';
import { xmlDialectFormat } from '../sdk/formats/xml-dialect.ts';
import { mappedAdapter } from '../sdk/mapped-adapter.ts';
import { acceptedText } from '../sdk/mapper.ts';
import { defineMapping, type Fields, type Rule } from '../sdk/mapping/define.ts';
import { defineMessageMapping } from '../sdk/mapping/message-mapping.ts';
import { getPath, getPointer, setPath, setPointer } from '../sdk/mapping/paths.ts';

const PRODUKT = {
  produkt: 'th-kfz',
  produkthersteller: 'Thüringer Landesrechenzentrum (fiktiv)',
  produktversion: '2.1.4',
};
const HU = '/naechsteHauptuntersuchung';

const halter = defineMapping<Halter>((g) => [
  g.nested(
    '/natuerlichePerson',
    'Person',
    defineMapping<NonNullable<Halter['natuerlichePerson']>>((n) => [
      n.text('/familienname', 'Name'),
      n.text('/geburtsname', 'Geburtsname', { optional: true }),
      n.text('/vornamen', 'Vornamen'),
      n.text('/doktorgrad', 'Titel', { optional: true }),
      n.date('/geburt/datum', 'Geboren.@Datum', 'de'),
      n.text('/geburt/geburtsort', 'Geboren.@Ort'),
      n.code('/geburt/geburtsstaat', 'Geboren.@Staat', LISTS.staat, undefined, { optional: true }),
    ]),
    { optional: true },
  ),
  g.nested(
    '/juristischePerson',
    'Firma',
    defineMapping<NonNullable<Halter['juristischePerson']>>((j) => [
      j.text('/name', '#text'),
      j.text('/registereintrag', '@Register', { optional: true }),
    ]),
    { optional: true },
  ),
  g.code('/anschrift/gemeindeschluessel', 'Anschrift.@Gemeinde', LISTS.ags),
  g.text('/anschrift/strasse', 'Anschrift.Strasse'),
  g.text('/anschrift/hausnummer', 'Anschrift.HausNr', { optional: true }),
  g.text('/anschrift/postleitzahl', 'Anschrift.PLZ'),
  g.text('/anschrift/wohnort', 'Anschrift.Ort'),
]);

const kennzeichen = defineMapping<Kennzeichen>((k) => [
  k.text('/unterscheidungszeichen', '@Bezirk'),
  k.text('/erkennungsnummer', '@Nummer'),
]);

/** Code hook: the inspection month is two attributes natively (`Monat="6" Jahr="2027"`), one `JJJJ-MM` value in the standard. */
const hauptuntersuchung: Rule = {
  native: ['HU.@Monat', 'HU.@Jahr'],
  standard: [HU],
  describe: 'month and year as two attributes',
  decode(tree, draft, scope) {
    // The native names are worked out only for a value with a problem (acceptedText says which).
    const monatValue = getPath(tree, 'HU.@Monat');
    const jahrValue = getPath(tree, 'HU.@Jahr');
    const monat =
      acceptedText(monatValue) ?? scope.mapper.text(monatValue, scope.nativeName('HU.@Monat'), HU);
    const jahr = acceptedText(jahrValue) ?? scope.mapper.text(jahrValue, scope.nativeName('HU.@Jahr'), HU);
    if (!/^\d{1,2}$/.test(monat) || !/^\d{4}$/.test(jahr)) {
      if (monat && jahr)
        scope.mapper.fail(scope.nativeName('HU'), HU, `${monat}/${jahr} is not a month and a year`);
      return;
    }
    setPointer(draft, HU, `${jahr}-${monat.padStart(2, '0')}`);
  },
  encode(message, tree) {
    const value = getPointer(message, HU);
    if (typeof value !== 'string') return;
    setPath(tree, 'HU.@Monat', String(Number(value.slice(5))));
    setPath(tree, 'HU.@Jahr', value.slice(0, 4));
  },
};

type Kfz = Zulassung1001 | Halterwechsel1002 | Ausserbetriebsetzung1003;

// The three message types share these fields at the same pointers; TH-ZUL's element order is
// Steuerung, Datum, Fahrzeug, Kennzeichen, (KennzeichenNeu), ZB2, then the type's own fields.
const shared = <T extends Kfz>(f: Fields<T>) => f as unknown as Fields<Zulassung1001>;

function steuerung<T extends Kfz>(f: Fields<T>): Rule[] {
  const g = shared(f);
  return [
    g.uuid('/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtenUUID', 'Steuerung.VorgangsNr', {
      generate: true,
    }),
    g.uuid('/nachrichtenkopf.g2g/referenzUUID', 'Steuerung.BezugsNr', { optional: true }),
    g.timestamp(
      '/nachrichtenkopf.g2g/identifikation.nachricht/erstellungszeitpunkt',
      'Steuerung.Zeitstempel',
    ),
    g.bool('/test', 'Steuerung.Test', { true: ['1'], false: ['0'] }, { default: false }),
    g.behoerde('/nachrichtenkopf.g2g/autor', {
      kennung: 'Steuerung.Absender.@Schluessel',
      name: 'Steuerung.Absender.#text',
    }),
    g.behoerde('/nachrichtenkopf.g2g/leser', {
      kennung: 'Steuerung.Empfaenger.@Schluessel',
      name: 'Steuerung.Empfaenger.#text',
    }),
  ];
}

function fahrzeug<T extends Kfz>(f: Fields<T>): Rule[] {
  const g = shared(f);
  return [
    g.text('/fahrzeug/fin', 'Fahrzeug.@FIN'),
    g.code('/fahrzeug/fahrzeugklasse', 'Fahrzeug.@Klasse', LISTS.fahrzeugklasse),
    g.text('/fahrzeug/marke', 'Fahrzeug.Marke'),
    g.text('/fahrzeug/handelsbezeichnung', 'Fahrzeug.Typ', { optional: true }),
    g.date('/fahrzeug/erstzulassung', 'Fahrzeug.EZ', 'de'),
    g.nested('/kennzeichen', 'Kennzeichen', kennzeichen),
  ];
}

const zb2 = <T extends Kfz>(f: Fields<T>): Rule => shared(f).text('/zb2Nummer', 'ZB2');

const zulassung = defineMessageMapping<Zulassung1001>({
  type: zulassung1001,
  produkt: PRODUKT,
  rules: (f) => [
    ...steuerung(f),
    f.date('/zulassungsdatum', 'Datum', 'de'),
    ...fahrzeug(f),
    zb2(f),
    hauptuntersuchung,
    f.nested('/halter', 'Halter', halter),
  ],
});

const halterwechsel = defineMessageMapping<Halterwechsel1002>({
  type: halterwechsel1002,
  produkt: PRODUKT,
  rules: (f) => [
    ...steuerung(f),
    f.date('/umschreibungsdatum', 'Datum', 'de'),
    ...fahrzeug(f),
    f.nested('/kennzeichen.neu', 'KennzeichenNeu', kennzeichen, { optional: true }),
    zb2(f),
    hauptuntersuchung,
    f.nested('/halter.bisher', 'HalterAlt', halter),
    f.nested('/halter.neu', 'HalterNeu', halter),
  ],
});

const abmeldung = defineMessageMapping<Ausserbetriebsetzung1003>({
  type: ausserbetriebsetzung1003,
  produkt: PRODUKT,
  rules: (f) => [
    ...steuerung(f),
    f.date('/ausserbetriebsetzungsdatum', 'Datum', 'de'),
    ...fahrzeug(f),
    zb2(f),
    f.code('/grund', 'Grund', LISTS.ausserbetriebsetzungsgrund),
    f.date('/kennzeichenReserviertBis', 'ReserviertBis', 'de', { optional: true }),
    f.nested('/halter', 'Halter', halter),
  ],
});

export default mappedAdapter({
  spec: { id: 'th-kfz', title: 'Kfz-Zulassungsbehörden Thüringen', land: 'TH' },
  format: xmlDialectFormat({
    root: 'ZulassungsVorgang',
    namespace: 'urn:th-kfz:zul:2',
    rootAttributes: { '@Version': '2.1' },
  }),
  typeField: '@Typ',
  messages: { ZUL: zulassung, HW: halterwechsel, ABM: abmeldung },
  roundTrip: {
    constraints: [...MAPPER_CONSTRAINTS, 'produkt, produkthersteller and produktversion are those of th-kfz'],
    constrain: (message: XoevMessage, _spec: MessageTypeSpec) => ({
      ...mapperConstraints(message),
      ...PRODUKT,
    }),
  },
});
