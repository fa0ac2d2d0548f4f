/**
 * XElterngeld 1.2 (Elterngeld nach dem BEEG): the application a parent sends to the responsible
 * Elterngeldstelle (0101), the decision (0102) and the request for missing documents (0103). The
 * applicant reuses the catalogue's person and address types (../../xoev/person.ts). Object keys are
 * XML element names; ./xelterngeld.xsd describes the same documents.
 */
import { z } from 'zod';
import { codeOf, loadCodeList } from '../../xoev/codelist.ts';
import {
  antwortkopf,
  DATUM,
  KENNUNG,
  nachrichtenkopf,
  rootAttributes,
  ZEITPUNKT,
} from '../../xoev/nachrichtenkopf.ts';
import { anschrift, geburt, NAME, namensangaben } from '../../xoev/person.ts';

export const STANDARD = 'XElterngeld';
export const VERSION = '1.2';
export const NAMESPACE = 'urn:xoev-de:xelterngeld:1.2';

export const LISTS = {
  nachrichtentyp: loadCodeList('xelterngeld-nachrichtentyp-1.2.json'),
  leistungsvariante: loadCodeList('xelterngeld-leistungsvariante-1.json'),
  unterlagenart: loadCodeList('xelterngeld-unterlagenart-1.json'),
  entscheidung: loadCodeList('xelterngeld-entscheidung-1.json'),
  quittungsergebnis: loadCodeList('xelterngeld-quittungsergebnis-1.json'),
  geschlecht: loadCodeList('geschlecht-1.json'),
  staat: loadCodeList('staat-2025-01.json'),
  ags: loadCodeList('ags-2025-06-30.json'),
};

/** A month of the child's life, counted from its birth: 1–32 (ElterngeldPlus stretches to 32). */
export const LEBENSMONAT = z.number().int().min(1).max(32);

/** An amount in euros with cents, e.g. `1234.56` (xs:decimal, always two fraction digits). */
export const BETRAG = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,6})\.[0-9]{2}$/, 'must be euros with two decimals, e.g. 1234.56');

/** Steuerliche Identifikationsnummer: eleven digits, not starting with 0. */
export const STEUER_ID = z.string().regex(/^[1-9][0-9]{10}$/, 'must be eleven digits, not starting with 0');

export const AKTENZEICHEN = z.string().min(1).max(40);

function distinctMonths(list: { lebensmonat: number }[]): boolean {
  return new Set(list.map((b) => b.lebensmonat)).size === list.length;
}
const DISTINCT_MONTHS = { message: 'each lebensmonat may occur only once' };

export const Antragsteller = z.object({
  ...namensangaben(),
  geburt: geburt(LISTS.staat),
  geschlecht: codeOf(LISTS.geschlecht),
  staatsangehoerigkeit: z.array(codeOf(LISTS.staat)).min(1).max(4),
  anschrift: anschrift(LISTS.ags),
  steuerIdentifikationsnummer: STEUER_ID,
});

export const AndererElternteil = z.object({
  familienname: NAME,
  vornamen: NAME,
  geburtsdatum: DATUM,
});

export const Kind = z.object({
  familienname: NAME,
  vornamen: NAME,
  geburtsdatum: DATUM,
  mehrlingsgeburt: z.boolean(),
});

/** One month the applicant applies for, and in which variant. */
export const Bezugsmonat = z.object({
  lebensmonat: LEBENSMONAT,
  leistungsvariante: codeOf(LISTS.leistungsvariante),
});

export const Einkommensnachweis = z
  .object({
    unterlagenart: codeOf(LISTS.unterlagenart),
    zeitraumVon: DATUM,
    zeitraumBis: DATUM,
    bruttobetrag: BETRAG.optional(),
  })
  .refine((n) => n.zeitraumVon <= n.zeitraumBis, {
    message: 'zeitraumBis must not be before zeitraumVon',
    path: ['zeitraumBis'],
  });

export const Bankverbindung = z.object({
  iban: z.string().regex(/^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$/, 'must be an IBAN without spaces'),
  kontoinhaber: z.string().min(1).max(70),
});

/** The Elterngeldstelle the application is addressed to (the directory routed it there). */
export const ZustaendigeStelle = z.object({
  kennung: KENNUNG,
  name: z.string().min(1).max(255),
});

export const Antrag0101 = z.object({
  ...rootAttributes(STANDARD, VERSION),
  'nachrichtenkopf.g2g': nachrichtenkopf(LISTS.nachrichtentyp),
  antragsdatum: DATUM,
  antragsteller: Antragsteller,
  andererElternteil: AndererElternteil.optional(),
  kind: Kind,
  bezug: z.array(Bezugsmonat).min(1).max(32).refine(distinctMonths, DISTINCT_MONTHS),
  einkommensnachweis: z.array(Einkommensnachweis).max(24),
  bankverbindung: Bankverbindung,
  zustaendigeStelle: ZustaendigeStelle,
});
export type Antrag0101 = z.infer<typeof Antrag0101>;

/** One granted month: variant and amount. */
export const Bewilligung = z.object({
  lebensmonat: LEBENSMONAT,
  leistungsvariante: codeOf(LISTS.leistungsvariante),
  betrag: BETRAG,
});

export const Bescheid0102 = z.object({
  ...rootAttributes(STANDARD, VERSION),
  'nachrichtenkopf.g2g': antwortkopf(LISTS.nachrichtentyp),
  aktenzeichen: AKTENZEICHEN,
  bescheiddatum: DATUM,
  entscheidung: codeOf(LISTS.entscheidung),
  bewilligung: z.array(Bewilligung).max(32).refine(distinctMonths, DISTINCT_MONTHS),
  begruendung: z.string().min(1).max(4000).optional(),
  rechtsbehelfsbelehrung: z.string().min(1).max(4000),
});
export type Bescheid0102 = z.infer<typeof Bescheid0102>;

export const FehlendeUnterlage = z.object({
  unterlagenart: codeOf(LISTS.unterlagenart),
  erlaeuterung: z.string().min(1).max(500).optional(),
});

export const Nachforderung0103 = z.object({
  ...rootAttributes(STANDARD, VERSION),
  'nachrichtenkopf.g2g': antwortkopf(LISTS.nachrichtentyp),
  aktenzeichen: AKTENZEICHEN,
  /** The documents must arrive by this date. */
  frist: DATUM,
  fehlendeUnterlage: z.array(FehlendeUnterlage).min(1).max(20),
  hinweis: z.string().min(1).max(2000).optional(),
});
export type Nachforderung0103 = z.infer<typeof Nachforderung0103>;

export const Fehler = z.object({
  fehlercode: z.string().min(1).max(40),
  fehlertext: z.string().min(1).max(500),
});

/**
 * `quittung.0100`: the receipt for any XElterngeld message, shaped like XMeld's quittung.0020 (the
 * gateway sends it to the sender when the receiving system acknowledged; see gateway/receipts/).
 * XElterngeld-style catalogues had no receipt; this is the smallest one that says "taken over at".
 */
export const Quittung0100 = z.object({
  ...rootAttributes(STANDARD, VERSION),
  'nachrichtenkopf.g2g': antwortkopf(LISTS.nachrichtentyp),
  /** When the receiving system took the message over (its acknowledgement). */
  eingangszeitpunkt: ZEITPUNKT,
  ergebnis: codeOf(LISTS.quittungsergebnis),
  fehler: z.array(Fehler).max(20),
});
export type Quittung0100 = z.infer<typeof Quittung0100>;
