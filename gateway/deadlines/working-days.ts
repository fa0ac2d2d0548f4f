/**
 * Answer deadlines in working days of the receiver's Land: Saturdays, Sundays and the Land's public
 * holidays do not count. Days are calendar days in Germany (Europe/Berlin): a message received on a
 * Friday at 23:30 Berlin time was received on that Friday, whatever the UTC date says.
 */
import { holidays, type Land } from './holidays.ts';

const BERLIN_DATE = new Intl.DateTimeFormat('en-CA', {
  timeZone: 'Europe/Berlin',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
});

/** The calendar date (YYYY-MM-DD) of `instant` in Berlin. */
export function berlinDate(instant: Date): string {
  return BERLIN_DATE.format(instant);
}

export function isWorkingDay(isoDate: string, land: Land): boolean {
  return isWorkingDayAt(Date.parse(`${isoDate}T00:00:00Z`), land);
}

const DAY_MS = 86_400_000;

/** `dayStart`: midnight UTC of the day, in ms since the epoch. */
function isWorkingDayAt(dayStart: number, land: Land): boolean {
  // 1 January 1970 was a Thursday (4).
  const weekday = (Math.floor(dayStart / DAY_MS) + 4) % 7;
  if (weekday === 0 || weekday === 6) return false;
  const date = new Date(dayStart);
  return !holidays(date.getUTCFullYear(), land).has(date.toISOString().slice(0, 10));
}

/**
 * The last day on which an answer is in time: `workingDays` working days after the day of receipt
 * (the day of receipt itself does not count, as in § 187 BGB).
 */
export function deadline(received: Date, workingDays: number, land: Land): string {
  let day = Date.parse(`${berlinDate(received)}T00:00:00Z`);
  let left = workingDays;
  while (left > 0) {
    day += DAY_MS;
    if (isWorkingDayAt(day, land)) left--;
  }
  return new Date(day).toISOString().slice(0, 10);
}

/** True once the whole deadline day has passed in Berlin. */
export function isOverdue(received: Date, workingDays: number, land: Land, now: Date): boolean {
  return berlinDate(now) > deadline(received, workingDays, land);
}
