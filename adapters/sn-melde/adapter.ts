/**
 * sn-melde — the Meldewesen system of Sachsen (fictional). Speaks JSON over HTTPS with flat,
 * vendor-style field names; dates are ISO; codes are already DSMeld/DESTATIS codes, so the mapping
 * is mostly structural. Sends Rückmeldungen (0201) and their evaluations (0203); receives both.
 */
import type { XoevMessage } from '../../standards/catalogue.ts';
import type { Auswertung0203, Rueckmeldung0201 } from '../../standards/xmeld/25.11/schema.ts';
import { LISTS } from '../../standards/xmeld/25.11/schema.ts';
import { header } from '../../standards/xoev/message.ts';
import { type AdapterContext, defineAdapter } from '../sdk/adapter.ts';
import { encodeJson, parseJson } from '../sdk/formats/json.ts';
import { Mapper } from '../sdk/mapper.ts';

const PRODUKT = {
  produkt: 'sn-melde',
  produkthersteller: 'Freistaat Sachsen (fiktiv)',
  produktversion: '4.2.0',
};
const XMELD = ['xmeld', '25.11'] as const;

type Json = Record<string, unknown>;
type Anschrift = Rueckmeldung0201['wohnung.neu'];

const ART_TO_TYPE: Record<string, string> = {
  RUECKMELDUNG_ANMELDUNG: 'rueckmeldung.anmeldunginland.0201',
  RUECKMELDUNG_AUSWERTUNG: 'rueckmeldung.auswertung.0203',
};

function obj(value: unknown): Json {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : {};
}

function behoerde(m: Mapper, value: unknown, field: string, pointer: string) {
  const v = obj(value);
  return {
    verzeichnisdienst: 'DVDV' as const,
    kennung: `ags:${m.text(v.ags, `${field}.ags`, `${pointer}/kennung`)}`,
    name: m.text(v.behoerde, `${field}.behoerde`, `${pointer}/name`),
  };
}

function anschrift(m: Mapper, value: unknown, field: string, pointer: string): Anschrift {
  const v = obj(value);
  return {
    anschrift: {
      strasse: m.text(v.strasse, `${field}.strasse`, `${pointer}/anschrift/strasse`),
      hausnummer: m.optionalText(v.hausnummer, `${field}.hausnummer`, `${pointer}/anschrift/hausnummer`),
      postleitzahl: m.text(v.plz, `${field}.plz`, `${pointer}/anschrift/postleitzahl`),
      wohnort: m.text(v.ort, `${field}.ort`, `${pointer}/anschrift/wohnort`),
      gemeindeschluessel: m.code(LISTS.ags, v.ags, `${field}.ags`, `${pointer}/anschrift/gemeindeschluessel`),
    },
    einzugsdatum:
      v.einzug === undefined
        ? undefined
        : m.date(v.einzug, `${field}.einzug`, `${pointer}/einzugsdatum`, 'iso'),
  };
}

function kopf(m: Mapper, doc: Json, code: string, context: AdapterContext) {
  const vorgang = obj(doc.vorgang);
  return {
    'identifikation.nachricht': {
      nachrichtenUUID:
        vorgang.id === undefined
          ? context.newUUID()
          : m.text(
              vorgang.id,
              '$.vorgang.id',
              '/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtenUUID',
            ),
      nachrichtentyp: {
        listURI: LISTS.nachrichtentyp.listURI,
        listVersionID: LISTS.nachrichtentyp.listVersionID,
        code,
      },
      erstellungszeitpunkt: context.now().toISOString(),
    },
    leser: behoerde(m, doc.empfaenger, '$.empfaenger', '/nachrichtenkopf.g2g/leser'),
    autor: behoerde(m, doc.absender, '$.absender', '/nachrichtenkopf.g2g/autor'),
    referenzUUID:
      vorgang.bezugId === undefined
        ? undefined
        : m.text(vorgang.bezugId, '$.vorgang.bezugId', '/nachrichtenkopf.g2g/referenzUUID'),
  };
}

function decode0201(m: Mapper, doc: Json, context: AdapterContext): Rueckmeldung0201 {
  const p = obj(doc.person);
  const anmeldung = obj(doc.anmeldung);
  const vornamen = Array.isArray(p.vornamen) ? p.vornamen.join(' ') : p.vornamen;
  const nationalities = Array.isArray(p.staatsangehoerigkeiten) ? p.staatsangehoerigkeiten : [];
  if (nationalities.length === 0)
    m.fail('$.person.staatsangehoerigkeiten', '/person/staatsangehoerigkeit', 'at least one is required');
  return {
    standard: 'XMeld',
    version: '25.11',
    ...PRODUKT,
    test: m.bool(obj(doc.vorgang).test ?? false, '$.vorgang.test', '/test'),
    'nachrichtenkopf.g2g': kopf(m, doc, '0201', context),
    anmeldedatum: m.date(anmeldung.datum, '$.anmeldung.datum', '/anmeldedatum', 'iso'),
    person: {
      familienname: m.text(p.nachname, '$.person.nachname', '/person/familienname'),
      geburtsname: m.optionalText(p.geburtsname, '$.person.geburtsname', '/person/geburtsname'),
      vornamen: m.text(vornamen, '$.person.vornamen', '/person/vornamen'),
      doktorgrad: m.optionalText(p.titel, '$.person.titel', '/person/doktorgrad'),
      geburt: {
        datum: m.date(p.geburtsdatum, '$.person.geburtsdatum', '/person/geburt/datum', 'iso'),
        geburtsort: m.text(p.geburtsort, '$.person.geburtsort', '/person/geburt/geburtsort'),
      },
      geschlecht: m.code(LISTS.geschlecht, p.geschlecht, '$.person.geschlecht', '/person/geschlecht'),
      staatsangehoerigkeit: nationalities.map((n, i) =>
        m.code(LISTS.staat, n, `$.person.staatsangehoerigkeiten[${i}]`, `/person/staatsangehoerigkeit/${i}`),
      ),
      familienstand: m.code(
        LISTS.familienstand,
        p.familienstand,
        '$.person.familienstand',
        '/person/familienstand',
      ),
      auskunftssperre: m.bool(
        p.auskunftssperre ?? false,
        '$.person.auskunftssperre',
        '/person/auskunftssperre',
      ),
    },
    'wohnung.neu': anschrift(m, doc.neueAnschrift, '$.neueAnschrift', '/wohnung.neu'),
    'wohnung.bisher': anschrift(m, doc.bisherigeAnschrift, '$.bisherigeAnschrift', '/wohnung.bisher'),
  };
}

function decode0203(m: Mapper, doc: Json, context: AdapterContext): Auswertung0203 {
  const ergebnis = obj(doc.ergebnis);
  const k = kopf(m, doc, '0203', context);
  return {
    standard: 'XMeld',
    version: '25.11',
    ...PRODUKT,
    test: m.bool(obj(doc.vorgang).test ?? false, '$.vorgang.test', '/test'),
    'nachrichtenkopf.g2g': {
      ...k,
      referenzUUID:
        k.referenzUUID ?? m.text(undefined, '$.vorgang.bezugId', '/nachrichtenkopf.g2g/referenzUUID'),
    },
    ergebnis: m.code(LISTS.auswertungsergebnis, ergebnis.code, '$.ergebnis.code', '/ergebnis'),
    fortschreibungsdatum:
      ergebnis.datum === undefined
        ? undefined
        : m.date(ergebnis.datum, '$.ergebnis.datum', '/fortschreibungsdatum', 'iso'),
    hinweis: m.optionalText(ergebnis.hinweis, '$.ergebnis.hinweis', '/hinweis'),
  };
}

function nativeBehoerde(b: { kennung: string; name: string }) {
  return { ags: b.kennung.replace(/^ags:/, ''), behoerde: b.name };
}

function nativeAnschrift(w: Anschrift) {
  return {
    strasse: w.anschrift.strasse,
    hausnummer: w.anschrift.hausnummer,
    plz: w.anschrift.postleitzahl,
    ort: w.anschrift.wohnort,
    ags: w.anschrift.gemeindeschluessel.code,
    einzug: w.einzugsdatum,
  };
}

function nativeVorgang(message: XoevMessage, art: string) {
  const h = header(message);
  return {
    id: h['identifikation.nachricht'].nachrichtenUUID,
    art,
    bezugId: h.referenzUUID,
    erstelltAm: h['identifikation.nachricht'].erstellungszeitpunkt,
    test: message.test,
  };
}

export default defineAdapter({
  spec: {
    id: 'sn-melde',
    title: 'Meldewesen Sachsen',
    land: 'SN',
    format: 'JSON (UTF-8), one Vorgang per request; field names of the Saxon vendor, ISO dates, DSMeld codes',
    decodes: { contentTypes: ['application/json'], messageTypes: Object.values(ART_TO_TYPE) },
    encodes: { contentType: 'application/json', messageTypes: Object.values(ART_TO_TYPE) },
  },

  decode(input, context) {
    const doc = obj(parseJson(input.body));
    const m = new Mapper();
    const art = m.text(
      obj(doc.vorgang).art,
      '$.vorgang.art',
      '/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtentyp/code',
    );
    const name = ART_TO_TYPE[art];
    if (!name) {
      m.fail(
        '$.vorgang.art',
        '/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtentyp/code',
        `unknown Vorgangsart ${JSON.stringify(art)}; expected one of ${Object.keys(ART_TO_TYPE).join(', ')}`,
      );
      return m.finish([]);
    }
    const message = name.endsWith('0201') ? decode0201(m, doc, context) : decode0203(m, doc, context);
    return m.finish([{ spec: context.messageType(...XMELD, name), message, nativeRef: '$' }]);
  },

  encode(message, spec) {
    const h = header(message);
    if (spec.name === 'rueckmeldung.anmeldunginland.0201') {
      const msg = message as unknown as Rueckmeldung0201;
      const p = msg.person;
      return {
        contentType: 'application/json',
        body: encodeJson({
          vorgang: nativeVorgang(message, 'RUECKMELDUNG_ANMELDUNG'),
          absender: nativeBehoerde(h.autor),
          empfaenger: nativeBehoerde(h.leser),
          anmeldung: { datum: msg.anmeldedatum },
          person: {
            nachname: p.familienname,
            geburtsname: p.geburtsname,
            vornamen: p.vornamen.split(' '),
            titel: p.doktorgrad,
            geburtsdatum: p.geburt.datum,
            geburtsort: p.geburt.geburtsort,
            geschlecht: p.geschlecht.code,
            staatsangehoerigkeiten: p.staatsangehoerigkeit.map((s) => s.code),
            familienstand: p.familienstand.code,
            auskunftssperre: p.auskunftssperre,
          },
          neueAnschrift: nativeAnschrift(msg['wohnung.neu']),
          bisherigeAnschrift: nativeAnschrift(msg['wohnung.bisher']),
        }),
      };
    }
    const msg = message as unknown as Auswertung0203;
    return {
      contentType: 'application/json',
      body: encodeJson({
        vorgang: nativeVorgang(message, 'RUECKMELDUNG_AUSWERTUNG'),
        absender: nativeBehoerde(h.autor),
        empfaenger: nativeBehoerde(h.leser),
        ergebnis: {
          code: msg.ergebnis.code,
          text: LISTS.auswertungsergebnis.nameOf(msg.ergebnis.code),
          datum: msg.fortschreibungsdatum,
          hinweis: msg.hinweis,
        },
      }),
    };
  },
});
