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

/** The value of the ASCII digits `s[start..end)`, or -1 if one of them is not a digit. */
export function digitsAt(s: string, start: number, end: number): number {
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = s.charCodeAt(i) - 48;
    // NaN (past the end) fails the test too.
    if (!(digit >= 0 && digit <= 9)) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * True if `s` holds a real Gregorian calendar date `YYYY-MM-DD` at `start`, year 0001–9999 (xs:date
 * has no year 0000). Reads the digits in place: it runs for every date of every message, and a
 * regex plus slices and Number() per date costs several times as much.
 */
function isCalendarDateAt(s: string, start: number): boolean {
  if (s.charCodeAt(start + 4) !== 45 || s.charCodeAt(start + 7) !== 45) return false;
  const year = digitsAt(s, start, start + 4);
  const month = digitsAt(s, start + 5, start + 7);
  const day = digitsAt(s, start + 8, start + 10);
  return year > 0 && month >= 0 && day >= 0 && isCalendarDay(year, month, day);
}

/** An offset `±hh:mm` of xs:dateTime: at most 14:00. */
function isZoneOffset(hours: number, minutes: number): boolean {
  return hours >= 0 && minutes >= 0 && minutes <= 59 && (hours < 14 || (hours === 14 && minutes === 0));
}

/** True for exactly a calendar date `YYYY-MM-DD` (see isCalendarDateAt). */
function isCalendarDate(s: string): boolean {
  return s.length === 10 && isCalendarDateAt(s, 0);
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
      isCalendarDateAt(s, 0) &&
      (s.length === 24 || isZoneOffset(digitsAt(s, 24, 26), digitsAt(s, 27, 29))),
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
