import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { answers, type OpenCase, OverdueCaseStore } from './overdue-cases.ts';

const CASE: OpenCase = {
  messageId: 'a0000000-0000-4000-8000-000000000001',
  messageType: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
  senderSystem: 'sn-melde',
  receiverSystem: 'st-melde',
  land: 'ST',
  contract: 'xmeld-rueckmeldung',
  workingDays: 3,
  answeredBy: ['rueckmeldung.auswertung.0203'],
  deliveredAt: '2026-12-23T09:00:00.000Z',
  deadline: '2026-12-29',
};
const ANSWER = 'xmeld:25.11:rueckmeldung.auswertung.0203';

describe('open answer cases', () => {
  let dir: string;
  let store: OverdueCaseStore;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'gw-cases-'));
    store = new OverdueCaseStore(path.join(dir, 'deadlines.sqlite'));
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('matches answer types by name or catalogue id', () => {
    expect(answers(ANSWER, ['rueckmeldung.auswertung.0203'])).toBe(true);
    expect(answers(ANSWER, [ANSWER])).toBe(true);
    expect(answers('xmeld:25.11:rueckmeldung.unplausibel.0204', ['rueckmeldung.auswertung.0203'])).toBe(
      false,
    );
  });

  it('is overdue from the day after its deadline until answered by one of its answer types', () => {
    expect(store.open(CASE)).toBe(true);
    expect(store.open(CASE)).toBe(false);
    expect(store.overdue('2026-12-29')).toEqual([]);
    expect(store.overdue('2026-12-30').map((c) => c.messageId)).toEqual([CASE.messageId]);
    // A message of another type referencing it does not answer it.
    const other = {
      referenzUUID: CASE.messageId,
      answerType: 'xmeld:25.11:quittung.0020',
      answeredAt: '2026-12-24T08:00:00.000Z',
    };
    expect(store.answer({ ...other, answerId: 'b0000000-0000-4000-8000-000000000001' })).toBe(false);
    expect(store.overdue('2026-12-30')).toHaveLength(1);
    expect(
      store.answer({ ...other, answerType: ANSWER, answerId: 'b0000000-0000-4000-8000-000000000002' }),
    ).toBe(true);
    expect(store.overdue('2027-01-30')).toEqual([]);
    expect(store.get(CASE.messageId)).toMatchObject({ answerId: 'b0000000-0000-4000-8000-000000000002' });
  });

  it('an answer seen before its case was opened closes the case on opening', () => {
    store.answer({
      referenzUUID: CASE.messageId,
      answerId: 'b0000000-0000-4000-8000-000000000003',
      answerType: ANSWER,
      answeredAt: '2026-12-23T09:00:00.100Z',
    });
    store.open(CASE);
    expect(store.overdue('2027-01-30')).toEqual([]);
    expect(store.get(CASE.messageId)?.answeredAt).toBe('2026-12-23T09:00:00.100Z');
  });

  it('marks the reminder once', () => {
    store.open(CASE);
    expect(store.markReminded(CASE.messageId, '2026-12-30T00:00:00.000Z')).toBe(true);
    expect(store.markReminded(CASE.messageId, '2026-12-31T00:00:00.000Z')).toBe(false);
    expect(store.get(CASE.messageId)?.remindedAt).toBe('2026-12-30T00:00:00.000Z');
  });
});
