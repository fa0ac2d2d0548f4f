/**
 * XBAföG 1.0 (Ausbildungsförderung nach dem BAföG): the hand-over of a case file between Ämter für
 * Ausbildungsförderung when the responsibility changes (§ 45 BAföG: a student moves to a university
 * in the district of another office, often in another Land; § 45a: the new office steps in for every
 * administrative act, the old one pays until the new one continues). The sending office hands the
 * file over (0401); the receiving office takes it over or refuses with a reason (0402). The student
 * reuses the catalogue's name and address types (../../xoev/person.ts). Object keys are XML element
 * names; ./xbafoeg.xsd describes the same documents.
 */
import { z } from 'zod';
import { codeOf, loadCodeList } from '../../xoev/codelist.ts';
import {
  antwortkopf,
  DATUM,
  nachrichtenkopf,
  rootAttributes,
  ZEITPUNKT,
} from '../../xoev/nachrichtenkopf.ts';
import { anschrift, namensangaben } from '../../xoev/person.ts';

export const STANDARD = 'XBAfoeG';
export const VERSION = '1.0';
export const NAMESPACE = 'urn:xoev-de:xbafoeg:1.0';

export const LISTS = {
  nachrichtentyp: loadCodeList('xbafoeg-nachrichtentyp-1.0.json'),
  abgabegrund: loadCodeList('xbafoeg-abgabegrund-1.json'),
  ausbildungsstaettenart: loadCodeList('xbafoeg-ausbildungsstaettenart-1.json'),
  foerderungsart: loadCodeList('xbafoeg-foerderungsart-1.json'),
  rueckforderungsgrund: loadCodeList('xbafoeg-rueckforderungsgrund-1.json'),
  ablehnungsgrund: loadCodeList('xbafoeg-ablehnungsgrund-1.json'),
  quittungsergebnis: loadCodeList('xbafoeg-quittungsergebnis-1.json'),
  bundesland: loadCodeList('bundesland-2025-01.json'),
  ags: loadCodeList('ags-2025-06-30.json'),
};

/** An amount in euros with cents, e.g. `934.00` (xs:decimal, always two fraction digits). */
export const BETRAG = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,6})\.[0-9]{2}$/, 'must be euros with two decimals, e.g. 934.00');

/**
 * Förderungsnummer: the number under which the student's BAföG case is kept, ten to twelve digits.
 * It stays with the student across offices, so both offices name the case by it.
 */
export const FOERDERUNGSNUMMER = z.string().regex(/^[0-9]{10,12}$/, 'must be ten to twelve digits');

/** An office's own file number (Aktenzeichen), free form. */
export const AKTENZEICHEN = z.string().min(1).max(40);

/** The student (Auszubildende/r): names, date of birth, the current address. */
export const Auszubildender = z.object({
  ...namensangaben(),
  geburtsdatum: DATUM,
  anschrift: anschrift(LISTS.ags),
});

/** A training institution (Ausbildungsstätte) and what the student is trained in there. */
export const Ausbildungsstaette = z.object({
  bezeichnung: z.string().min(1).max(255),
  art: codeOf(LISTS.ausbildungsstaettenart),
  ort: z.string().min(1).max(40),
  land: codeOf(LISTS.bundesland),
  /** Studiengang or Fachrichtung, e.g. `Maschinenbau (Bachelor of Science)`. */
  ausbildungsgang: z.string().min(1).max(120),
});

/** The period the current decision grants support for (usually twelve months, § 50 Abs. 3 BAföG). */
export const Bewilligungszeitraum = z
  .object({
    beginn: DATUM,
    ende: DATUM,
  })
  .refine((b) => b.beginn <= b.ende, { message: 'ende must not be before beginn', path: ['ende'] });

/** A repayment claim the sending office has decided and that is still open. */
export const Rueckforderung = z.object({
  grund: codeOf(LISTS.rueckforderungsgrund),
  bescheiddatum: DATUM,
  offenerBetrag: BETRAG,
});

export const Abgabe0401 = z.object({
  ...rootAttributes(STANDARD, VERSION),
  'nachrichtenkopf.g2g': nachrichtenkopf(LISTS.nachrichtentyp),
  foerderungsnummer: FOERDERUNGSNUMMER,
  /** The sending office's file number. */
  aktenzeichen: AKTENZEICHEN,
  abgabegrund: codeOf(LISTS.abgabegrund),
  auszubildender: Auszubildender,
  ausbildungsstaetteBisher: Ausbildungsstaette,
  ausbildungsstaetteNeu: Ausbildungsstaette,
  /** The first day at the new Ausbildungsstätte. */
  wechselZum: DATUM,
  bewilligungszeitraum: Bewilligungszeitraum,
  foerderungsart: codeOf(LISTS.foerderungsart),
  /** The monthly amount the sending office pays. */
  monatlicherBetrag: BETRAG,
  /** The last day the sending office has paid for; it pays on until the new office continues (§ 45a Abs. 2). */
  gezahltBis: DATUM,
  rueckforderung: z.array(Rueckforderung).max(20),
  hinweis: z.string().min(1).max(2000).optional(),
});
export type Abgabe0401 = z.infer<typeof Abgabe0401>;

/** The receiving office takes the file over: its own file number and from when it pays. */
export const Uebernahme = z.object({
  aktenzeichen: AKTENZEICHEN,
  fortsetzungAb: DATUM,
});

/** The receiving office refuses the file: a reason from the list, and why in words. */
export const Ablehnung = z.object({
  grund: codeOf(LISTS.ablehnungsgrund),
  begruendung: z.string().min(1).max(2000).optional(),
});

/** Exactly one of uebernahme and ablehnung (xs:choice). */
export const Entscheidung = z
  .object({
    uebernahme: Uebernahme.optional(),
    ablehnung: Ablehnung.optional(),
  })
  .refine((e) => (e.uebernahme === undefined) !== (e.ablehnung === undefined), {
    message: 'must contain exactly one of uebernahme and ablehnung',
  });

export const Uebernahme0402 = z.object({
  ...rootAttributes(STANDARD, VERSION),
  'nachrichtenkopf.g2g': antwortkopf(LISTS.nachrichtentyp),
  /** The Förderungsnummer of the file handed over (0401). */
  foerderungsnummer: FOERDERUNGSNUMMER,
  entscheidung: Entscheidung,
});
export type Uebernahme0402 = z.infer<typeof Uebernahme0402>;

export const Fehler = z.object({
  fehlercode: z.string().min(1).max(40),
  fehlertext: z.string().min(1).max(500),
});

/**
 * `quittung.0400`: the receipt for any XBAföG message, shaped like XMeld's quittung.0020 (the gateway
 * sends it to the sender when the receiving system acknowledged; see gateway/receipts/).
 */
export const Quittung0400 = z.object({
  ...rootAttributes(STANDARD, VERSION),
  'nachrichtenkopf.g2g': antwortkopf(LISTS.nachrichtentyp),
  /** When the receiving system took the message over (its acknowledgement). */
  eingangszeitpunkt: ZEITPUNKT,
  ergebnis: codeOf(LISTS.quittungsergebnis),
  fehler: z.array(Fehler).max(20),
});
export type Quittung0400 = z.infer<typeof Quittung0400>;
