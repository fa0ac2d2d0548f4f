/**
 * German public holidays per Land, for answer deadlines counted in working days (XMeld: a
 * Rückmeldung is answered within 3 working days). Nationwide holidays plus the Land-specific ones;
 * Easter by the Gregorian computus (Meeus/Jones/Butcher). Holidays that only some municipalities
 * keep (Fronleichnam in parts of Sachsen and Thüringen, Mariä Himmelfahrt in Bavarian Catholic
 * municipalities) are left out: deadlines must not depend on the municipality, and counting such a
 * day as working errs towards the shorter (stricter) deadline.
 */
export const LAENDER = [
  'BW',
  'BY',
  'BE',
  'BB',
  'HB',
  'HH',
  'HE',
  'MV',
  'NI',
  'NW',
  'RP',
  'SL',
  'SN',
  'ST',
  'SH',
  'TH',
] as const;
export type Land = (typeof LAENDER)[number];

function utc(year: number, month: number, day: number): Date {
  return new Date(Date.UTC(year, month - 1, day));
}

function addDays(date: Date, days: number): Date {
  return new Date(date.getTime() + days * 86_400_000);
}

export function easterSunday(year: number): Date {
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const day = ((h + l - 7 * m + 114) % 31) + 1;
  return utc(year, month, day);
}

/** Buß- und Bettag: the Wednesday before 23 November (Sachsen only). */
function bussUndBettag(year: number): Date {
  const nov23 = utc(year, 11, 23);
  const back = (nov23.getUTCDay() - 3 + 7) % 7 || 7;
  return addDays(nov23, -back);
}

/** Per year and Land: a deadline asks for every day it counts, a few dozen times per message. */
const known = new Map<string, ReadonlyMap<string, string>>();

/** The public holidays of `land` in `year`, as ISO dates with their names. */
export function holidays(year: number, land: Land): ReadonlyMap<string, string> {
  const key = `${year}:${land}`;
  let found = known.get(key);
  if (!found) {
    found = computeHolidays(year, land);
    known.set(key, found);
  }
  return found;
}

function computeHolidays(year: number, land: Land): Map<string, string> {
  const easter = easterSunday(year);
  const list: [Date, string, Land[] | 'all'][] = [
    [utc(year, 1, 1), 'Neujahr', 'all'],
    [utc(year, 1, 6), 'Heilige Drei Könige', ['BW', 'BY', 'ST']],
    [utc(year, 3, 8), 'Internationaler Frauentag', ['BE', 'MV']],
    [addDays(easter, -2), 'Karfreitag', 'all'],
    [addDays(easter, 1), 'Ostermontag', 'all'],
    [utc(year, 5, 1), 'Tag der Arbeit', 'all'],
    [addDays(easter, 39), 'Christi Himmelfahrt', 'all'],
    [addDays(easter, 50), 'Pfingstmontag', 'all'],
    [addDays(easter, 60), 'Fronleichnam', ['BW', 'BY', 'HE', 'NW', 'RP', 'SL']],
    [utc(year, 8, 15), 'Mariä Himmelfahrt', ['SL']],
    [utc(year, 9, 20), 'Weltkindertag', ['TH']],
    [utc(year, 10, 3), 'Tag der Deutschen Einheit', 'all'],
    [utc(year, 10, 31), 'Reformationstag', ['BB', 'HB', 'HH', 'MV', 'NI', 'SN', 'ST', 'SH', 'TH']],
    [utc(year, 11, 1), 'Allerheiligen', ['BW', 'BY', 'NW', 'RP', 'SL']],
    [bussUndBettag(year), 'Buß- und Bettag', ['SN']],
    [utc(year, 12, 25), '1. Weihnachtstag', 'all'],
    [utc(year, 12, 26), '2. Weihnachtstag', 'all'],
  ];
  const result = new Map<string, string>();
  for (const [date, name, where] of list) {
    if (where === 'all' || where.includes(land)) result.set(date.toISOString().slice(0, 10), name);
  }
  return result;
}
