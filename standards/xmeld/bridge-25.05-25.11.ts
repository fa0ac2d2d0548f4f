/**
 * XMeld 25.05 ↔ 25.11, field by field as ./CHANGES.md describes. Up-conversion never loses data
 * (25.11 can say everything 25.05 can). Down-conversion refuses a 25.11 message that uses what 25.05
 * cannot carry: an einzugsdatum, a fourth nationality, Familienstand EA.
 */
import type { MessageTypeSpec, XoevMessage } from '../catalogue.ts';
import { type Converter, defined, LossReport } from '../xoev/conversion.ts';
import type * as V2505 from './25.05/schema.ts';
import { LISTS as LISTS_2505 } from './25.05/schema.ts';
import type * as V2511 from './25.11/schema.ts';
import { LISTS as LISTS_2511 } from './25.11/schema.ts';

const MESSAGE_TYPES = [
  'rueckmeldung.anmeldunginland.0201',
  'rueckmeldung.auswertung.0203',
  'rueckmeldung.unplausibel.0204',
  'quittung.0020',
] as const;

type CodeValue = { listURI: string; listVersionID: string; code: string; name?: string };
type Lists = typeof LISTS_2505 | typeof LISTS_2511;

/** The same code on the target version of its list (name kept). */
function recode(value: CodeValue, list: Lists[keyof Lists]): CodeValue {
  return defined({ ...value, listURI: list.listURI, listVersionID: list.listVersionID });
}

/** Root attributes and header: only the version and the nachrichtentyp list version change. */
function envelope(message: XoevMessage, version: string, lists: Lists): XoevMessage {
  const kopf = message['nachrichtenkopf.g2g'];
  const id = kopf['identifikation.nachricht'];
  return {
    ...message,
    version,
    'nachrichtenkopf.g2g': {
      ...kopf,
      'identifikation.nachricht': { ...id, nachrichtentyp: recode(id.nachrichtentyp, lists.nachrichtentyp) },
    },
  };
}

// ---------------------------------------------------------------------------------------------- up

function wohnungUp(w: V2505.Rueckmeldung0201['wohnung.neu']): V2511.Rueckmeldung0201['wohnung.neu'] {
  const { ort, ...rest } = w.anschrift;
  return {
    anschrift: defined({
      strasse: rest.strasse,
      hausnummer: rest.hausnummer,
      postleitzahl: rest.postleitzahl,
      wohnort: ort,
      gemeindeschluessel: rest.gemeindeschluessel,
    }),
  };
}

function rueckmeldungUp(m: V2505.Rueckmeldung0201): V2511.Rueckmeldung0201 {
  const p = m.person;
  return {
    ...(envelope(m as unknown as XoevMessage, '25.11', LISTS_2511) as unknown as V2511.Rueckmeldung0201),
    anmeldedatum: m.anmeldedatum,
    person: defined({
      familienname: p.familienname,
      geburtsname: p.geburtsname,
      vornamen: p.vornamen,
      doktorgrad: p.doktorgrad,
      geburt: defined({ datum: p.geburtsdatum, geburtsort: p.geburtsort, geburtsstaat: p.geburtsstaat }),
      geschlecht: p.geschlecht,
      staatsangehoerigkeit: p.staatsangehoerigkeit,
      familienstand: recode(p.familienstand, LISTS_2511.familienstand),
      auskunftssperre: p.auskunftssperre,
    }) as V2511.Rueckmeldung0201['person'],
    'wohnung.neu': wohnungUp(m['wohnung.neu']),
    'wohnung.bisher': wohnungUp(m['wohnung.bisher']),
  };
}

export const xmeld2505To2511: Converter = {
  standard: 'xmeld',
  from: '25.05',
  to: '25.11',
  messageTypes: MESSAGE_TYPES,
  convert(message) {
    if (message['nachrichtenkopf.g2g']['identifikation.nachricht'].nachrichtentyp.code === '0201') {
      return rueckmeldungUp(message as unknown as V2505.Rueckmeldung0201);
    }
    return envelope(message, '25.11', LISTS_2511);
  },
};

// ---------------------------------------------------------------------------------------------- down

const MAX_NATIONALITIES_2505 = 3;

function wohnungDown(
  w: V2511.Rueckmeldung0201['wohnung.neu'],
  key: 'wohnung.neu' | 'wohnung.bisher',
  losses: LossReport,
): V2505.Rueckmeldung0201['wohnung.neu'] {
  if (w.einzugsdatum !== undefined) losses.add([key, 'einzugsdatum'], 'XMeld 25.05 has no einzugsdatum');
  const a = w.anschrift;
  return {
    anschrift: defined({
      strasse: a.strasse,
      hausnummer: a.hausnummer,
      postleitzahl: a.postleitzahl,
      ort: a.wohnort,
      gemeindeschluessel: a.gemeindeschluessel,
    }),
  };
}

function rueckmeldungDown(m: V2511.Rueckmeldung0201, losses: LossReport): V2505.Rueckmeldung0201 {
  const p = m.person;
  if (p.staatsangehoerigkeit.length > MAX_NATIONALITIES_2505) {
    losses.add(
      ['person', 'staatsangehoerigkeit', MAX_NATIONALITIES_2505],
      `XMeld 25.05 carries at most ${MAX_NATIONALITIES_2505} nationalities`,
    );
  }
  if (!LISTS_2505.familienstand.has(p.familienstand.code)) {
    losses.add(
      ['person', 'familienstand', 'code'],
      `${p.familienstand.code} is not on ${LISTS_2505.familienstand.listURI} version ${LISTS_2505.familienstand.listVersionID}`,
    );
  }
  return {
    ...(envelope(m as unknown as XoevMessage, '25.05', LISTS_2505) as unknown as V2505.Rueckmeldung0201),
    anmeldedatum: m.anmeldedatum,
    person: defined({
      familienname: p.familienname,
      geburtsname: p.geburtsname,
      vornamen: p.vornamen,
      doktorgrad: p.doktorgrad,
      geburtsdatum: p.geburt.datum,
      geburtsort: p.geburt.geburtsort,
      geburtsstaat: p.geburt.geburtsstaat,
      geschlecht: p.geschlecht,
      staatsangehoerigkeit: p.staatsangehoerigkeit,
      familienstand: recode(p.familienstand, LISTS_2505.familienstand),
      auskunftssperre: p.auskunftssperre,
    }) as V2505.Rueckmeldung0201['person'],
    'wohnung.neu': wohnungDown(m['wohnung.neu'], 'wohnung.neu', losses),
    'wohnung.bisher': wohnungDown(m['wohnung.bisher'], 'wohnung.bisher', losses),
  };
}

export const xmeld2511To2505: Converter = {
  standard: 'xmeld',
  from: '25.11',
  to: '25.05',
  messageTypes: MESSAGE_TYPES,
  convert(message, spec: MessageTypeSpec) {
    if (message['nachrichtenkopf.g2g']['identifikation.nachricht'].nachrichtentyp.code !== '0201') {
      return envelope(message, '25.05', LISTS_2505);
    }
    const losses = new LossReport(spec, '25.05');
    const out = rueckmeldungDown(message as unknown as V2511.Rueckmeldung0201, losses);
    losses.throwIfAny();
    return out;
  },
};
