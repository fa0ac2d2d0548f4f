import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { easterSunday, holidays, LAENDER } from './holidays.ts';
import { deadline, isOverdue, isWorkingDay } from './working-days.ts';

describe('public holidays', () => {
  it('computes Easter Sunday (known dates)', () => {
    expect(easterSunday(2024).toISOString().slice(0, 10)).toBe('2024-03-31');
    expect(easterSunday(2025).toISOString().slice(0, 10)).toBe('2025-04-20');
    expect(easterSunday(2026).toISOString().slice(0, 10)).toBe('2026-04-05');
    expect(easterSunday(2027).toISOString().slice(0, 10)).toBe('2027-03-28');
    expect(easterSunday(2038).toISOString().slice(0, 10)).toBe('2038-04-25');
  });

  it('knows the Land-specific holidays', () => {
    expect(holidays(2026, 'SN').get('2026-11-18')).toBe('Buß- und Bettag');
    expect(holidays(2026, 'ST').has('2026-11-18')).toBe(false);
    expect(holidays(2026, 'ST').get('2026-01-06')).toBe('Heilige Drei Könige');
    expect(holidays(2026, 'SN').has('2026-01-06')).toBe(false);
    expect(holidays(2026, 'TH').get('2026-09-20')).toBe('Weltkindertag');
    expect(holidays(2026, 'BY').get('2026-06-04')).toBe('Fronleichnam');
    expect(holidays(2026, 'BE').get('2026-03-08')).toBe('Internationaler Frauentag');
    for (const land of LAENDER)
      expect(holidays(2026, land).get('2026-10-03')).toBe('Tag der Deutschen Einheit');
  });

  it('Buß- und Bettag is always a Wednesday between 16 and 22 November', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1990, max: 2100 }), (year) => {
        const [date] = [...holidays(year, 'SN').entries()].find(([, n]) => n === 'Buß- und Bettag')!;
        const d = new Date(`${date}T00:00:00Z`);
        return d.getUTCDay() === 3 && d.getUTCDate() >= 16 && d.getUTCDate() <= 22;
      }),
    );
  });
});

describe('answer deadlines in working days', () => {
  it('skips the weekend', () => {
    // Thursday 2026-11-05 + 3 working days = Tuesday 2026-11-10.
    expect(deadline(new Date('2026-11-05T09:00:00+01:00'), 3, 'ST')).toBe('2026-11-10');
  });

  it('skips the receiver Land’s holidays — and only those', () => {
    // Monday 2026-11-16: Sachsen has Buß- und Bettag on Wednesday 18th, Sachsen-Anhalt does not.
    expect(deadline(new Date('2026-11-16T10:00:00+01:00'), 3, 'SN')).toBe('2026-11-20');
    expect(deadline(new Date('2026-11-16T10:00:00+01:00'), 3, 'ST')).toBe('2026-11-19');
  });

  it('crosses Easter and Christmas', () => {
    // Thursday before Easter 2026 (2 April): Karfreitag 3rd, weekend, Ostermontag 6th.
    expect(deadline(new Date('2026-04-02T12:00:00+02:00'), 3, 'TH')).toBe('2026-04-09');
    // 23 December 2026 (Wednesday): 24th counts, 25/26 holidays, 27 Sunday, 28, 29.
    expect(deadline(new Date('2026-12-23T12:00:00+01:00'), 3, 'SN')).toBe('2026-12-29');
  });

  it('counts the day of receipt in Berlin time', () => {
    // 23:30 on Friday in Berlin is 22:30 UTC: still Friday.
    expect(deadline(new Date('2026-11-06T22:30:00Z'), 1, 'ST')).toBe('2026-11-09');
    // 00:30 on Saturday in Berlin is Friday 23:30 UTC: received on Saturday.
    expect(deadline(new Date('2026-11-06T23:30:00Z'), 1, 'ST')).toBe('2026-11-09');
  });

  it('is overdue only after the whole deadline day', () => {
    const received = new Date('2026-11-05T09:00:00+01:00');
    expect(isOverdue(received, 3, 'ST', new Date('2026-11-10T23:59:00+01:00'))).toBe(false);
    expect(isOverdue(received, 3, 'ST', new Date('2026-11-11T00:01:00+01:00'))).toBe(true);
  });

  it('a deadline is always a working day, later than receipt, and monotone in the number of days', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('2024-01-01'), max: new Date('2030-12-31'), noInvalidDate: true }),
        fc.integer({ min: 1, max: 20 }),
        fc.constantFrom(...LAENDER),
        (received, days, land) => {
          const d = deadline(received, days, land);
          return (
            isWorkingDay(d, land) &&
            d > received.toISOString().slice(0, 10) === true &&
            deadline(received, days + 1, land) > d
          );
        },
      ),
    );
  });
});
