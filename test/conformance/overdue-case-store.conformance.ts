/**
 * The OverdueCaseStore conformance suite: what the SQLite and the PostgreSQL case stores must both
 * honour — a case opens once, is overdue from the day after its deadline until one of its answer
 * types answers it (also when the answer came first), and two instances on one storage (two
 * gateway processes or replicas) see the same cases and claim each reminder exactly once while
 * the claim lasts (an expired claim without a mark is claimed again: overdue-reminder.conformance.ts).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { answers, type OpenCase, type OverdueCaseStore } from '../../gateway/ports/overdue-case-store.ts';

export interface OverdueCaseStoreFixture {
  store: OverdueCaseStore;
  /** Another instance on the same storage, as a second gateway process would open it. */
  another: () => Promise<OverdueCaseStore>;
  cleanup: () => Promise<void>;
}

let counter = 0;

function openCase(overrides: Partial<OpenCase> = {}): OpenCase {
  const n = ++counter;
  return {
    messageId: `a0000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    messageType: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
    senderSystem: 'sn-melde',
    receiverSystem: 'st-melde',
    land: 'ST',
    contract: 'xmeld-rueckmeldung',
    workingDays: 3,
    answeredBy: ['rueckmeldung.auswertung.0203'],
    deliveredAt: '2026-12-23T09:00:00.000Z',
    deadline: '2026-12-29',
    ...overrides,
  };
}

const ANSWER = 'xmeld:25.11:rueckmeldung.auswertung.0203';
const answerId = () => `b0000000-0000-4000-8000-${String(++counter).padStart(12, '0')}`;

export function runOverdueCaseStoreConformance(
  name: string,
  factory: () => Promise<OverdueCaseStoreFixture>,
): void {
  describe(`OverdueCaseStore conformance: ${name}`, () => {
    let fixture: OverdueCaseStoreFixture;
    let store: OverdueCaseStore;
    const others: OverdueCaseStore[] = [];
    const another = async () => {
      const s = await fixture.another();
      others.push(s);
      return s;
    };

    beforeEach(async () => {
      fixture = await factory();
      store = fixture.store;
    });
    afterEach(async () => {
      for (const s of others.splice(0)) await s.close();
      await store.close();
      await fixture.cleanup();
    });

    it('matches answer types by name or catalogue id', () => {
      expect(answers(ANSWER, ['rueckmeldung.auswertung.0203'])).toBe(true);
      expect(answers(ANSWER, [ANSWER])).toBe(true);
      expect(answers('xmeld:25.11:rueckmeldung.unplausibel.0204', ['rueckmeldung.auswertung.0203'])).toBe(
        false,
      );
    });

    it('is overdue from the day after its deadline until answered by one of its answer types', async () => {
      const c = openCase();
      expect(store.kind).toBe(name);
      expect(await store.open(c)).toBe(true);
      expect(await store.open({ ...c, deadline: '2027-01-05' })).toBe(false);
      expect(await store.overdue('2026-12-29')).toEqual([]);
      const due = await store.overdue('2026-12-30');
      expect(due).toEqual([{ ...c, answeredAt: null, answerId: null, remindedAt: null }]);
      // A message of another type referencing it does not answer it.
      const other = {
        referenzUUID: c.messageId,
        answerType: 'xmeld:25.11:quittung.0020',
        answeredAt: '2026-12-24T08:00:00.000Z',
      };
      expect(await store.answer({ ...other, answerId: answerId() })).toBe(false);
      expect(await store.overdue('2026-12-30')).toHaveLength(1);
      const id = answerId();
      expect(await store.answer({ ...other, answerType: ANSWER, answerId: id })).toBe(true);
      // A second answer does not close it again.
      expect(await store.answer({ ...other, answerType: ANSWER, answerId: answerId() })).toBe(false);
      expect(await store.overdue('2027-01-30')).toEqual([]);
      expect(await store.get(c.messageId)).toMatchObject({ answerId: id, answeredAt: other.answeredAt });
      expect(await store.get('a0000000-0000-4000-8000-ffffffffffff')).toBeUndefined();
    });

    it('an answer seen before its case was opened closes the case on opening', async () => {
      const c = openCase();
      expect(
        await store.answer({
          referenzUUID: c.messageId,
          answerId: answerId(),
          answerType: ANSWER,
          answeredAt: '2026-12-23T09:00:00.100Z',
        }),
      ).toBe(false);
      expect(await store.open(c)).toBe(true);
      expect(await store.overdue('2027-01-30')).toEqual([]);
      expect((await store.get(c.messageId))?.answeredAt).toBe('2026-12-23T09:00:00.100Z');
    });

    it('lists overdue cases oldest deadline first', async () => {
      const later = openCase({ deadline: '2026-12-29', deliveredAt: '2026-12-23T10:00:00.000Z' });
      const earlier = openCase({ deadline: '2026-12-28', deliveredAt: '2026-12-22T09:00:00.000Z' });
      const sameDayFirst = openCase({ deadline: '2026-12-29', deliveredAt: '2026-12-23T08:00:00.000Z' });
      for (const c of [later, earlier, sameDayFirst]) await store.open(c);
      expect((await store.overdue('2026-12-29')).map((c) => c.messageId)).toEqual([earlier.messageId]);
      expect((await store.overdue('2027-01-01')).map((c) => c.messageId)).toEqual([
        earlier.messageId,
        sameDayFirst.messageId,
        later.messageId,
      ]);
    });

    it('claims a reminder until its claim expires, and not once it is marked', async () => {
      const c = openCase();
      await store.open(c);
      const second = await another();
      expect(
        await store.claimReminder(c.messageId, '2026-12-30T09:00:00.000Z', '2026-12-30T09:05:00.000Z'),
      ).toBe(true);
      // Live: nobody else takes it, nor does the holder claim it twice.
      expect(
        await second.claimReminder(c.messageId, '2026-12-30T09:04:59.999Z', '2026-12-30T09:09:59.999Z'),
      ).toBe(false);
      expect(
        await store.claimReminder(c.messageId, '2026-12-30T09:01:00.000Z', '2026-12-30T09:06:00.000Z'),
      ).toBe(false);
      expect((await store.get(c.messageId))?.remindedAt).toBeNull();
      // Expired without a mark (its holder died, or could not publish): claimed again.
      expect(
        await second.claimReminder(c.messageId, '2026-12-30T09:05:00.000Z', '2026-12-30T09:10:00.000Z'),
      ).toBe(true);
      expect(await second.markReminded(c.messageId, '2026-12-30T09:05:00.000Z')).toBe(true);
      expect(await store.markReminded(c.messageId, '2026-12-30T09:06:00.000Z')).toBe(false);
      expect((await store.get(c.messageId))?.remindedAt).toBe('2026-12-30T09:05:00.000Z');
      expect(
        await store.claimReminder(c.messageId, '2027-01-30T00:00:00.000Z', '2027-01-30T00:05:00.000Z'),
      ).toBe(false);
      const unknown = 'a0000000-0000-4000-8000-fffffffffffe';
      expect(await store.claimReminder(unknown, '2026-12-30T00:00:00.000Z', '2026-12-30T00:05:00.000Z')).toBe(
        false,
      );
      expect(await store.markReminded(unknown, '2026-12-30T00:00:00.000Z')).toBe(false);
    });

    it('does not claim the reminder of an answered case', async () => {
      const c = openCase();
      await store.open(c);
      await store.answer({
        referenzUUID: c.messageId,
        answerId: answerId(),
        answerType: ANSWER,
        answeredAt: '2026-12-30T08:00:00.000Z',
      });
      expect(
        await store.claimReminder(c.messageId, '2026-12-30T09:00:00.000Z', '2026-12-30T09:05:00.000Z'),
      ).toBe(false);
    });

    it('two instances on one storage see the same cases and claim each reminder exactly once', async () => {
      const second = await another();
      const cases = Array.from({ length: 20 }, () => openCase());
      // Half opened by each instance, as each replica opens the cases it delivered.
      await Promise.all(cases.map((c, i) => (i % 2 === 0 ? store : second).open(c)));
      const ids = cases.map((c) => c.messageId).sort();
      expect((await store.overdue('2027-01-01')).map((c) => c.messageId).sort()).toEqual(ids);
      expect((await second.overdue('2027-01-01')).map((c) => c.messageId).sort()).toEqual(ids);
      // Both check at once, as two replicas scraped at the same moment would.
      const until = '2027-01-01T00:05:00.000Z';
      const claims = await Promise.all(
        cases.flatMap((c) => [
          store.claimReminder(c.messageId, '2027-01-01T00:00:00.000Z', until),
          second.claimReminder(c.messageId, '2027-01-01T00:00:00.001Z', until),
        ]),
      );
      for (let i = 0; i < cases.length; i++) {
        expect(Number(claims[2 * i]) + Number(claims[2 * i + 1]), cases[i]!.messageId).toBe(1);
      }
      await Promise.all(
        cases.map((c, i) =>
          (claims[2 * i] ? store : second).markReminded(c.messageId, '2027-01-01T00:00:01.000Z'),
        ),
      );
      expect((await second.overdue('2027-01-01')).every((c) => c.remindedAt !== null)).toBe(true);
    });

    it('a case opened on one instance while another records its answer ends answered', async () => {
      const second = await another();
      const cases = Array.from({ length: 20 }, () => openCase());
      await Promise.all(
        cases.flatMap((c) => [
          store.open(c),
          second.answer({
            referenzUUID: c.messageId,
            answerId: answerId(),
            answerType: ANSWER,
            answeredAt: '2026-12-24T08:00:00.000Z',
          }),
        ]),
      );
      expect(await store.overdue('2027-01-30')).toEqual([]);
      for (const c of cases)
        expect((await second.get(c.messageId))?.answeredAt).toBe('2026-12-24T08:00:00.000Z');
    });
  });
}
