/**
 * The shared XÖV message header `nachrichtenkopf.g2g` and the root attributes every message of
 * every standard carries. Object keys are the XML element names, so a JSON pointer in an error
 * (`/nachrichtenkopf.g2g/leser/kennung`) names the element an integrator sees in the XSD.
 */
import { z } from 'zod';
import { type CodeList, codeOf, XML_ATTRIBUTE } from './codelist.ts';

export const UUID = z
  .string()
  .regex(
    /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    'must be a lower-case RFC 4122 UUID',
  );

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * True if the day exists in the proleptic Gregorian calendar (year 0 included, a leap year, as in
 * JavaScript's Date). Plain arithmetic: it runs for every date of every message, and a Date round
 * trip costs far more.
 */
export function isCalendarDay(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= (month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!);
}

/** True for a real Gregorian calendar date `YYYY-MM-DD`, year 0001–9999 (xs:date has no year 0000). */
function isCalendarDate(s: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const year = Number(s.slice(0, 4));
  return year !== 0 && isCalendarDay(year, Number(s.slice(5, 7)), Number(s.slice(8, 10)));
}

/**
 * xs:dateTime with milliseconds and an explicit offset, as XÖV requires for erstellungszeitpunkt.
 * As strict as xs:dateTime: a calendar date (Date.parse alone accepts 2025-02-30), a time
 * Date.parse accepts, an offset within ±14:00.
 */
export const ZEITPUNKT = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})$/, {
    message: 'must be YYYY-MM-DDThh:mm:ss.sss with zone',
    abort: true,
  })
  .refine(
    (s) =>
      !Number.isNaN(Date.parse(s)) &&
      isCalendarDate(s.slice(0, 10)) &&
      (s.length === 24 ||
        (s.slice(24, 26) <= '14' &&
          s.slice(27, 29) <= '59' &&
          (s.slice(24, 26) !== '14' || s.slice(27, 29) === '00'))),
    'is not a valid point in time',
  );

/** xs:date; also rejects impossible dates such as 2025-02-30 (and year 0000, which xs:date lacks). */
export const DATUM = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'must be YYYY-MM-DD', abort: true })
  .refine(isCalendarDate, 'is not a calendar date');

/** DVDV-style address of an authority: `praefix:kennung`, e.g. `ags:14612000`. */
export const KENNUNG = z
  .string()
  .regex(/^[a-z]{2,10}:[A-Za-z0-9._-]{1,40}$/, 'must be praefix:kennung, e.g. ags:14612000');

export const Behoerde = z.object({
  verzeichnisdienst: z.literal('DVDV'),
  kennung: KENNUNG,
  name: z.string().min(1).max(255),
});
export type Behoerde = z.infer<typeof Behoerde>;

export function nachrichtenkopf(nachrichtentypen: CodeList) {
  return z.object({
    'identifikation.nachricht': z.object({
      nachrichtenUUID: UUID,
      nachrichtentyp: codeOf(nachrichtentypen),
      erstellungszeitpunkt: ZEITPUNKT,
    }),
    leser: Behoerde,
    autor: Behoerde,
    referenzUUID: UUID.optional(),
  });
}
export type Nachrichtenkopf = z.infer<ReturnType<typeof nachrichtenkopf>>;

/** The header of an answer or receipt: referenzUUID (the id of the message answered) is required. */
export function antwortkopf(nachrichtentypen: CodeList) {
  return nachrichtenkopf(nachrichtentypen).extend({ referenzUUID: UUID });
}

/** Root attributes of every message (`standard`, `version`, `produkt`, …, `test`). */
export function rootAttributes(standard: string, version: string) {
  return {
    standard: z.literal(standard).meta(XML_ATTRIBUTE),
    version: z.literal(version).meta(XML_ATTRIBUTE),
    produkt: z.string().min(1).max(255).meta(XML_ATTRIBUTE),
    produkthersteller: z.string().min(1).max(255).meta(XML_ATTRIBUTE),
    produktversion: z.string().min(1).max(64).meta(XML_ATTRIBUTE),
    test: z.boolean().meta(XML_ATTRIBUTE),
  };
}
