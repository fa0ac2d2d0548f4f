/**
 * st-kfz — the vehicle registration authorities of Sachsen-Anhalt (fictional web procedure
 * "KFZ-Online LSA"). Speaks JSON: one Vorgang per request, `vorgangsart` ZULASSUNG, HALTERWECHSEL
 * or ABMELDUNG (XKfz 1001, 1002, 1003). Plates are one string (`MD-K 88`), the inspection month is
 * written as on the sticker (`06/2027`), first names are a list, and a keeper is a PERSON or a
 * FIRMA (`typ`) with the fields of that kind beside an `adresse`.
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
  Zulassung1001,
} from '../../standards/xkfz/1.4/schema.ts';
import { LISTS } from '../../standards/xkfz/1.4/schema.ts';
import { MAPPER_CONSTRAINTS, mapperConstraints, setAt } from '../sdk/constrain.ts';
import { jsonFormat } from '../sdk/formats/json.ts';
import { mappedAdapter } from '../sdk/mapped-adapter.ts';
import type { Converter } from '../sdk/mapping/converters.ts';
import { defineMapping, type Fields, type Rule } from '../sdk/mapping/define.ts';
import { defineMessageMapping } from '../sdk/mapping/message-mapping.ts';

const PRODUKT = {
  produkt: 'st-kfz',
  produkthersteller: 'Land Sachsen-Anhalt, IT-Dienstleister (fiktiv)',
  produktversion: '5.0.1',
};

/** The inspection month as on the sticker: `MM/JJJJ` natively, `JJJJ-MM` in the standard. */
const HU_MONAT: Converter<unknown, string> = {
  describe: 'month MM/JJJJ',
  decode(v, at, { mapper }) {
    const raw = mapper.textAt(v, at);
    const m = /^(\d{2})\/(\d{4})$/.exec(raw);
    if (!m) return mapper.fail(at.native, at.pointer, `${JSON.stringify(raw)} is not a month MM/JJJJ`);
    return `${m[2]}-${m[1]}`;
  },
  encode: (v) => `${v.slice(5)}/${v.slice(0, 4)}`,
};

const halter = defineMapping<Halter>((g) => [
  g.choice('typ', {
    PERSON: {
      pointer: '/natuerlichePerson',
      mapping: defineMapping<NonNullable<Halter['natuerlichePerson']>>((n) => [
        n.text('/familienname', 'nachname'),
        n.text('/geburtsname', 'geburtsname', { optional: true }),
        n.words('/vornamen', 'vornamen'),
        n.text('/doktorgrad', 'titel', { optional: true }),
        n.date('/geburt/datum', 'geburtsdatum', 'iso'),
        n.text('/geburt/geburtsort', 'geburtsort'),
        n.code('/geburt/geburtsstaat', 'geburtsland', LISTS.staat, undefined, { optional: true }),
      ]),
    },
    FIRMA: {
      pointer: '/juristischePerson',
      mapping: defineMapping<NonNullable<Halter['juristischePerson']>>((j) => [
        j.text('/name', 'firma'),
        j.text('/registereintrag', 'register', { optional: true }),
      ]),
    },
  }),
  g.text('/anschrift/strasse', 'adresse.strasse'),
  g.text('/anschrift/hausnummer', 'adresse.hausnummer', { optional: true }),
  g.text('/anschrift/postleitzahl', 'adresse.plz'),
  g.text('/anschrift/wohnort', 'adresse.ort'),
  g.code('/anschrift/gemeindeschluessel', 'adresse.gemeinde', LISTS.ags),
]);

type Kfz = Zulassung1001 | Halterwechsel1002 | Ausserbetriebsetzung1003;

/** Header and vehicle: the same fields at the same pointers in all three message types. */
function common<T extends Kfz>(f: Fields<T>): Rule[] {
  const g = f as unknown as Fields<Zulassung1001>;
  return [
    g.bool('/test', 'testbetrieb', undefined, { default: false }),
    g.uuid('/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtenUUID', 'vorgangsId', { generate: true }),
    g.timestamp('/nachrichtenkopf.g2g/identifikation.nachricht/erstellungszeitpunkt', 'erstelltAm'),
    g.behoerde('/nachrichtenkopf.g2g/autor', {
      kennung: 'behoerde.schluessel',
      name: 'behoerde.bezeichnung',
    }),
    g.behoerde('/nachrichtenkopf.g2g/leser', {
      kennung: 'empfaenger.schluessel',
      name: 'empfaenger.bezeichnung',
    }),
    g.uuid('/nachrichtenkopf.g2g/referenzUUID', 'bezugsId', { optional: true }),
    g.text('/fahrzeug/fin', 'fahrzeug.fin'),
    g.code('/fahrzeug/fahrzeugklasse', 'fahrzeug.klasse', LISTS.fahrzeugklasse),
    g.text('/fahrzeug/marke', 'fahrzeug.hersteller'),
    g.text('/fahrzeug/handelsbezeichnung', 'fahrzeug.typ', { optional: true }),
    g.date('/fahrzeug/erstzulassung', 'fahrzeug.erstzulassung', 'iso'),
    g.split(['/kennzeichen/unterscheidungszeichen', '/kennzeichen/erkennungsnummer'], 'kennzeichen', {
      separator: '-',
    }),
    g.text('/zb2Nummer', 'zb2'),
  ];
}

const zulassung = defineMessageMapping<Zulassung1001>({
  type: zulassung1001,
  produkt: PRODUKT,
  rules: (f) => [
    ...common(f),
    f.date('/zulassungsdatum', 'datum', 'iso'),
    f.convert('/naechsteHauptuntersuchung', 'hu', HU_MONAT),
    f.nested('/halter', 'halter', halter),
  ],
});

const halterwechsel = defineMessageMapping<Halterwechsel1002>({
  type: halterwechsel1002,
  produkt: PRODUKT,
  rules: (f) => [
    ...common(f),
    f.date('/umschreibungsdatum', 'datum', 'iso'),
    f.nested(
      '/kennzeichen.neu',
      '',
      defineMapping<NonNullable<Halterwechsel1002['kennzeichen.neu']>>((k) => [
        k.split(['/unterscheidungszeichen', '/erkennungsnummer'], 'kennzeichenNeu', { separator: '-' }),
      ]),
      { optional: true },
    ),
    f.convert('/naechsteHauptuntersuchung', 'hu', HU_MONAT),
    f.nested('/halter.bisher', 'halterAlt', halter),
    f.nested('/halter.neu', 'halterNeu', halter),
  ],
});

const abmeldung = defineMessageMapping<Ausserbetriebsetzung1003>({
  type: ausserbetriebsetzung1003,
  produkt: PRODUKT,
  rules: (f) => [
    ...common(f),
    f.date('/ausserbetriebsetzungsdatum', 'datum', 'iso'),
    f.code('/grund', 'abmeldegrund', LISTS.ausserbetriebsetzungsgrund),
    f.date('/kennzeichenReserviertBis', 'kennzeichenReserviertBis', 'iso', { optional: true }),
    f.nested('/halter', 'halter', halter),
  ],
});

export default mappedAdapter({
  spec: { id: 'st-kfz', title: 'Kfz-Zulassungsbehörden Sachsen-Anhalt', land: 'ST' },
  format: jsonFormat(),
  typeField: 'vorgangsart',
  messages: { ZULASSUNG: zulassung, HALTERWECHSEL: halterwechsel, ABMELDUNG: abmeldung },
  roundTrip: {
    constraints: [
      ...MAPPER_CONSTRAINTS,
      'first names are separated by single spaces (they travel as a list of words)',
      'produkt, produkthersteller and produktversion are those of st-kfz',
    ],
    constrain(message: XoevMessage, _spec: MessageTypeSpec) {
      let m = mapperConstraints(message);
      for (const h of ['/halter', '/halter.bisher', '/halter.neu'])
        m = setAt(m, `${h}/natuerlichePerson/vornamen`, (v: string) =>
          v
            .split(' ')
            .map((w) => w.trim())
            .filter(Boolean)
            .join(' '),
        );
      return { ...m, ...PRODUKT } as XoevMessage;
    },
  },
});
