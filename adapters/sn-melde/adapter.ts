/**
 * sn-melde — the Meldewesen system of Sachsen (fictional). Speaks JSON over HTTPS with flat,
 * vendor-style field names; dates are ISO; codes are already DSMeld/DESTATIS codes, so the mapping
 * is mostly structural. Sends Rückmeldungen (0201) and their evaluations (0203); receives both.
 * `vorgang.art` names the message type; first names travel as a list.
 */
import type { XoevMessage } from '../../standards/catalogue.ts';
import { auswertung0203, rueckmeldung0201 } from '../../standards/xmeld/25.11/index.ts';
import type { Auswertung0203, Rueckmeldung0201 } from '../../standards/xmeld/25.11/schema.ts';
import { LISTS } from '../../standards/xmeld/25.11/schema.ts';
import { MAPPER_CONSTRAINTS, mapperConstraints, setAt } from '../sdk/constrain.ts';
import { jsonFormat } from '../sdk/formats/json.ts';
import { mappedAdapter } from '../sdk/mapped-adapter.ts';
import type { Fields, Rule } from '../sdk/mapping/define.ts';
import { defineMessageMapping } from '../sdk/mapping/message-mapping.ts';
import { setPath } from '../sdk/mapping/paths.ts';

const PRODUKT = {
  produkt: 'sn-melde',
  produkthersteller: 'Freistaat Sachsen (fiktiv)',
  produktversion: '4.2.0',
};

/** The Vorgang block and the two authorities: the same in both message types. */
function kopf<T extends Rueckmeldung0201 | Auswertung0203>(f: Fields<T>): Rule[] {
  const g = f as unknown as Fields<Rueckmeldung0201>;
  return [
    g.uuid('/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtenUUID', 'vorgang.id', { generate: true }),
    g.uuid('/nachrichtenkopf.g2g/referenzUUID', 'vorgang.bezugId', { optional: true }),
    g.timestamp('/nachrichtenkopf.g2g/identifikation.nachricht/erstellungszeitpunkt', 'vorgang.erstelltAm'),
    g.bool('/test', 'vorgang.test', undefined, { default: false }),
    g.behoerde('/nachrichtenkopf.g2g/autor', {
      kennung: 'absender.ags',
      name: 'absender.behoerde',
      prefix: 'ags',
    }),
    g.behoerde('/nachrichtenkopf.g2g/leser', {
      kennung: 'empfaenger.ags',
      name: 'empfaenger.behoerde',
      prefix: 'ags',
    }),
  ];
}

function anschrift(
  f: Fields<Rueckmeldung0201>,
  pointer: '/wohnung.neu' | '/wohnung.bisher',
  native: string,
): Rule[] {
  return [
    f.text(`${pointer}/anschrift/strasse`, `${native}.strasse`),
    f.text(`${pointer}/anschrift/hausnummer`, `${native}.hausnummer`, { optional: true }),
    f.text(`${pointer}/anschrift/postleitzahl`, `${native}.plz`),
    f.text(`${pointer}/anschrift/wohnort`, `${native}.ort`),
    f.code(`${pointer}/anschrift/gemeindeschluessel`, `${native}.ags`, LISTS.ags),
    f.date(`${pointer}/einzugsdatum`, `${native}.einzug`, 'iso', { optional: true }),
  ];
}

const rueckmeldung = defineMessageMapping<Rueckmeldung0201>({
  type: rueckmeldung0201,
  produkt: PRODUKT,
  rules: (f) => [
    ...kopf(f),
    f.date('/anmeldedatum', 'anmeldung.datum', 'iso'),
    f.text('/person/familienname', 'person.nachname'),
    f.text('/person/geburtsname', 'person.geburtsname', { optional: true }),
    f.words('/person/vornamen', 'person.vornamen'),
    f.text('/person/doktorgrad', 'person.titel', { optional: true }),
    f.date('/person/geburt/datum', 'person.geburtsdatum', 'iso'),
    f.text('/person/geburt/geburtsort', 'person.geburtsort'),
    f.code('/person/geburt/geburtsstaat', 'person.geburtsstaat', LISTS.staat, undefined, { optional: true }),
    f.code('/person/geschlecht', 'person.geschlecht', LISTS.geschlecht),
    f.codes('/person/staatsangehoerigkeit', 'person.staatsangehoerigkeiten', LISTS.staat),
    f.code('/person/familienstand', 'person.familienstand', LISTS.familienstand),
    f.bool('/person/auskunftssperre', 'person.auskunftssperre', undefined, { default: false }),
    ...anschrift(f, '/wohnung.neu', 'neueAnschrift'),
    ...anschrift(f, '/wohnung.bisher', 'bisherigeAnschrift'),
  ],
});

const auswertung = defineMessageMapping<Auswertung0203>({
  type: auswertung0203,
  produkt: PRODUKT,
  rules: (f) => [
    ...kopf(f),
    f.code('/ergebnis', 'ergebnis.code', LISTS.auswertungsergebnis),
    f.date('/fortschreibungsdatum', 'ergebnis.datum', 'iso', { optional: true }),
    f.text('/hinweis', 'ergebnis.hinweis', { optional: true }),
  ],
  hooks: {
    // The Saxon client shows the result's wording; it is written out, never read back.
    encode(native, message) {
      setPath(native, 'ergebnis.text', LISTS.auswertungsergebnis.nameOf(message.ergebnis.code));
    },
  },
});

export default mappedAdapter({
  spec: {
    id: 'sn-melde',
    title: 'Meldewesen Sachsen',
    land: 'SN',
    format: 'JSON (UTF-8), one Vorgang per request; field names of the Saxon vendor, ISO dates, DSMeld codes',
  },
  format: jsonFormat(),
  typeField: 'vorgang.art',
  messages: { RUECKMELDUNG_ANMELDUNG: rueckmeldung, RUECKMELDUNG_AUSWERTUNG: auswertung },
  roundTrip: {
    constraints: [
      ...MAPPER_CONSTRAINTS,
      'authorities are addressed by AGS (ags: keys; the prefix is implicit)',
      'first names are separated by single spaces (they travel as a list)',
      'produkt, produkthersteller and produktversion are those of sn-melde',
    ],
    constrain(message) {
      let m = mapperConstraints(message);
      for (const who of ['leser', 'autor'])
        m = setAt(m, `/nachrichtenkopf.g2g/${who}/kennung`, (k: string) => k.replace(/^[a-z]+:/, 'ags:'));
      m = setAt(m, '/person/vornamen', (v: string) =>
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
