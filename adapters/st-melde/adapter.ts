/**
 * st-melde — the Meldewesen system of Sachsen-Anhalt (fictional). Speaks its own legacy XML
 * dialect ("Schnittstelle 3"): German element names, dates as TT.MM.JJJJ, its own codes for sex
 * (1–4), family status (led/verh/…), nationality (ISO 3166 alpha-2) and J/N flags. The value maps
 * below are the whole translation table; both directions use them.
 */
import type { XoevMessage } from '../../standards/catalogue.ts';
import type { Auswertung0203, Rueckmeldung0201 } from '../../standards/xmeld/25.11/schema.ts';
import { LISTS } from '../../standards/xmeld/25.11/schema.ts';
import { header } from '../../standards/xoev/message.ts';
import { type Adapter, type AdapterContext, defineAdapter } from '../sdk/adapter.ts';
import { buildXmlDialect, parseXmlDialect, type XmlNode } from '../sdk/formats/xml-dialect.ts';
import { invert, Mapper, toGermanDate } from '../sdk/mapper.ts';

const NAMESPACE = 'urn:st-melde:schnittstelle:3';
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
const ART: Record<string, string> = {
  'RM-ANM': 'rueckmeldung.anmeldunginland.0201',
  'RM-AUSW': 'rueckmeldung.auswertung.0203',
};

type Anschrift = Rueckmeldung0201['wohnung.neu'];

function node(value: unknown): XmlNode {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as XmlNode) : {};
}
/** Text of an element that may also carry attributes. */
function text(value: unknown): unknown {
  return value && typeof value === 'object' ? (value as XmlNode)['#text'] : value;
}

function behoerde(m: Mapper, value: unknown, field: string, pointer: string) {
  const v = node(value);
  return {
    verzeichnisdienst: 'DVDV' as const,
    kennung: `ags:${m.text(v['@Gemeinde'], `${field}/@Gemeinde`, `${pointer}/kennung`)}`,
    name: m.text(text(value), field, `${pointer}/name`),
  };
}

function anschrift(m: Mapper, value: unknown, field: string, pointer: string): Anschrift {
  const v = node(value);
  return {
    anschrift: {
      strasse: m.text(v.Strasse, `${field}/Strasse`, `${pointer}/anschrift/strasse`),
      hausnummer: m.optionalText(v.HausNr, `${field}/HausNr`, `${pointer}/anschrift/hausnummer`),
      postleitzahl: m.text(v.PLZ, `${field}/PLZ`, `${pointer}/anschrift/postleitzahl`),
      wohnort: m.text(v.Ort, `${field}/Ort`, `${pointer}/anschrift/wohnort`),
      gemeindeschluessel: m.code(
        LISTS.ags,
        v['@Gemeinde'],
        `${field}/@Gemeinde`,
        `${pointer}/anschrift/gemeindeschluessel`,
      ),
    },
    einzugsdatum:
      v.Einzug === undefined
        ? undefined
        : m.date(v.Einzug, `${field}/Einzug`, `${pointer}/einzugsdatum`, 'de'),
  };
}

function kopf(m: Mapper, root: XmlNode, code: string, context: AdapterContext) {
  const k = node(root.Kopf);
  const id = k.VorgangsID;
  return {
    'identifikation.nachricht': {
      nachrichtenUUID:
        id === undefined
          ? context.newUUID()
          : m
              .text(
                id,
                '/MeldeVorgang/Kopf/VorgangsID',
                '/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtenUUID',
              )
              .toLowerCase(),
      nachrichtentyp: {
        listURI: LISTS.nachrichtentyp.listURI,
        listVersionID: LISTS.nachrichtentyp.listVersionID,
        code,
      },
      erstellungszeitpunkt: context.now().toISOString(),
    },
    leser: behoerde(m, k.Empfaenger, '/MeldeVorgang/Kopf/Empfaenger', '/nachrichtenkopf.g2g/leser'),
    autor: behoerde(m, k.Absender, '/MeldeVorgang/Kopf/Absender', '/nachrichtenkopf.g2g/autor'),
    referenzUUID:
      k.BezugID === undefined
        ? undefined
        : m.text(k.BezugID, '/MeldeVorgang/Kopf/BezugID', '/nachrichtenkopf.g2g/referenzUUID').toLowerCase(),
  };
}

function testFlag(m: Mapper, root: XmlNode): boolean {
  return m.bool(node(root.Kopf).Testlauf ?? 'N', '/MeldeVorgang/Kopf/Testlauf', '/test', ['J'], ['N']);
}

function decode0201(m: Mapper, root: XmlNode, context: AdapterContext): Rueckmeldung0201 {
  const e = node(root.Einwohner);
  const f = '/MeldeVorgang/Einwohner';
  const staaten = Array.isArray(e.Staatsang) ? e.Staatsang : [];
  if (staaten.length === 0)
    m.fail(`${f}/Staatsang`, '/person/staatsangehoerigkeit', 'at least one is required');
  return {
    standard: 'XMeld',
    version: '25.11',
    ...PRODUKT,
    test: testFlag(m, root),
    'nachrichtenkopf.g2g': kopf(m, root, '0201', context),
    anmeldedatum: m.date(
      node(root.Anmeldung)['@Datum'],
      '/MeldeVorgang/Anmeldung/@Datum',
      '/anmeldedatum',
      'de',
    ),
    person: {
      familienname: m.text(e.Name, `${f}/Name`, '/person/familienname'),
      geburtsname: m.optionalText(e.Geburtsname, `${f}/Geburtsname`, '/person/geburtsname'),
      vornamen: m.text(e.Vorname, `${f}/Vorname`, '/person/vornamen'),
      doktorgrad: m.optionalText(e.AkadGrad, `${f}/AkadGrad`, '/person/doktorgrad'),
      geburt: {
        datum: m.date(e.GebDatum, `${f}/GebDatum`, '/person/geburt/datum', 'de'),
        geburtsort: m.text(e.GebOrt, `${f}/GebOrt`, '/person/geburt/geburtsort'),
      },
      geschlecht: m.code(LISTS.geschlecht, e.Geschl, `${f}/Geschl`, '/person/geschlecht', GESCHLECHT),
      staatsangehoerigkeit: staaten.map((s, i) =>
        m.code(LISTS.staat, s, `${f}/Staatsang[${i + 1}]`, `/person/staatsangehoerigkeit/${i}`, STAAT),
      ),
      familienstand: m.code(
        LISTS.familienstand,
        e.FamStand,
        `${f}/FamStand`,
        '/person/familienstand',
        FAMILIENSTAND,
      ),
      auskunftssperre: m.bool(e.Sperre ?? 'N', `${f}/Sperre`, '/person/auskunftssperre', ['J'], ['N']),
    },
    'wohnung.neu': anschrift(m, root.AnschriftNeu, '/MeldeVorgang/AnschriftNeu', '/wohnung.neu'),
    'wohnung.bisher': anschrift(m, root.AnschriftAlt, '/MeldeVorgang/AnschriftAlt', '/wohnung.bisher'),
  };
}

function decode0203(m: Mapper, root: XmlNode, context: AdapterContext): Auswertung0203 {
  const a = node(root.Auswertung);
  const k = kopf(m, root, '0203', context);
  return {
    standard: 'XMeld',
    version: '25.11',
    ...PRODUKT,
    test: testFlag(m, root),
    'nachrichtenkopf.g2g': {
      ...k,
      referenzUUID:
        k.referenzUUID ??
        m.text(undefined, '/MeldeVorgang/Kopf/BezugID', '/nachrichtenkopf.g2g/referenzUUID'),
    },
    ergebnis: m.code(
      LISTS.auswertungsergebnis,
      a['@Ergebnis'],
      '/MeldeVorgang/Auswertung/@Ergebnis',
      '/ergebnis',
      ERGEBNIS,
    ),
    fortschreibungsdatum:
      a['@Datum'] === undefined
        ? undefined
        : m.date(a['@Datum'], '/MeldeVorgang/Auswertung/@Datum', '/fortschreibungsdatum', 'de'),
    hinweis: m.optionalText(text(root.Auswertung), '/MeldeVorgang/Auswertung', '/hinweis'),
  };
}

const GESCHLECHT_OUT = invert(GESCHLECHT);
const FAMILIENSTAND_OUT = invert(FAMILIENSTAND);
const STAAT_OUT = invert(STAAT);
const ERGEBNIS_OUT = invert(ERGEBNIS);
const ART_OUT = invert(ART);

function nativeKopf(message: XoevMessage): XmlNode {
  const h = header(message);
  const b = (x: { kennung: string; name: string }) => ({
    '@Gemeinde': x.kennung.replace(/^ags:/, ''),
    '#text': x.name,
  });
  return {
    VorgangsID: h['identifikation.nachricht'].nachrichtenUUID,
    BezugID: h.referenzUUID,
    Absender: b(h.autor),
    Empfaenger: b(h.leser),
    Testlauf: message.test ? 'J' : 'N',
  };
}

function nativeAnschrift(w: Anschrift): XmlNode {
  return {
    '@Gemeinde': w.anschrift.gemeindeschluessel.code,
    Strasse: w.anschrift.strasse,
    HausNr: w.anschrift.hausnummer,
    PLZ: w.anschrift.postleitzahl,
    Ort: w.anschrift.wohnort,
    Einzug: w.einzugsdatum && toGermanDate(w.einzugsdatum),
  };
}

export default defineAdapter({
  spec: {
    id: 'st-melde',
    title: 'Meldewesen Sachsen-Anhalt',
    land: 'ST',
    format:
      'Legacy XML dialect "Schnittstelle 3" (UTF-8): German element names, TT.MM.JJJJ dates, own code tables',
    decodes: { contentTypes: ['application/xml', 'text/xml'], messageTypes: Object.values(ART) },
    encodes: { contentType: 'application/xml', messageTypes: Object.values(ART) },
  },

  decode(input, context) {
    const doc = parseXmlDialect(input.body, { arrays: ['Staatsang'] });
    const m = new Mapper();
    const root = node(doc.MeldeVorgang);
    if (!doc.MeldeVorgang) m.fail('/', '/', 'root element MeldeVorgang is missing');
    const art = m.text(
      root['@Art'],
      '/MeldeVorgang/@Art',
      '/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtentyp/code',
    );
    const name = ART[art];
    if (!name) {
      if (art)
        m.fail(
          '/MeldeVorgang/@Art',
          '/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtentyp/code',
          `unknown Art ${JSON.stringify(art)}; expected ${Object.keys(ART).join(' or ')}`,
        );
      return m.finish([]);
    }
    const message = name.endsWith('0201') ? decode0201(m, root, context) : decode0203(m, root, context);
    return m.finish([
      { spec: context.messageType('xmeld', '25.11', name), message, nativeRef: '/MeldeVorgang' },
    ]);
  },

  encode(message, spec) {
    const root: XmlNode = {
      '@xmlns': NAMESPACE,
      '@Art': ART_OUT[spec.name],
      '@Version': '3.2',
      Kopf: nativeKopf(message),
    };
    if (spec.name === 'rueckmeldung.anmeldunginland.0201') {
      const msg = message as unknown as Rueckmeldung0201;
      const p = msg.person;
      root.Einwohner = {
        Name: p.familienname,
        Geburtsname: p.geburtsname,
        Vorname: p.vornamen,
        AkadGrad: p.doktorgrad,
        GebDatum: toGermanDate(p.geburt.datum),
        GebOrt: p.geburt.geburtsort,
        Geschl: GESCHLECHT_OUT[p.geschlecht.code],
        Staatsang: p.staatsangehoerigkeit.map((s) => STAAT_OUT[s.code]),
        FamStand: FAMILIENSTAND_OUT[p.familienstand.code],
        Sperre: p.auskunftssperre ? 'J' : 'N',
      };
      root.Anmeldung = { '@Datum': toGermanDate(msg.anmeldedatum) };
      root.AnschriftNeu = nativeAnschrift(msg['wohnung.neu']);
      root.AnschriftAlt = nativeAnschrift(msg['wohnung.bisher']);
    } else {
      const msg = message as unknown as Auswertung0203;
      root.Auswertung = {
        '@Ergebnis': ERGEBNIS_OUT[msg.ergebnis.code],
        '@Datum': msg.fortschreibungsdatum && toGermanDate(msg.fortschreibungsdatum),
        '#text': msg.hinweis,
      };
    }
    return { contentType: 'application/xml', body: buildXmlDialect({ MeldeVorgang: root }) };
  },
}) satisfies Adapter;
