/** SqliteOverdueCaseStore: the OverdueCaseStore conformance suite on a real SQLite file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { expect, it } from 'vitest';
import { SqliteOverdueCaseStore } from '../../gateway/deadlines/overdue-cases.ts';
import { runOverdueCaseStoreConformance } from './overdue-case-store.conformance.ts';
import { runOverdueReminderConformance } from './overdue-reminder.conformance.ts';

const fixture = async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gw-cases-'));
  const file = path.join(dir, 'deadlines.sqlite');
  return {
    store: new SqliteOverdueCaseStore(file),
    another: async () => new SqliteOverdueCaseStore(file),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
};

runOverdueCaseStoreConformance('sqlite', fixture);
runOverdueReminderConformance('sqlite', fixture);

it('sqlite: a file from before the reminder lease gets its column, and its cases keep their reminders', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gw-cases-'));
  const file = path.join(dir, 'deadlines.sqlite');
  try {
    const old = new Database(file);
    old.exec(`
      CREATE TABLE answer_case (
        message_id TEXT PRIMARY KEY, message_type TEXT NOT NULL, sender_system TEXT NOT NULL,
        receiver_system TEXT NOT NULL, land TEXT NOT NULL, contract TEXT NOT NULL,
        working_days INTEGER NOT NULL, answered_by TEXT NOT NULL, delivered_at TEXT NOT NULL,
        deadline TEXT NOT NULL, answered_at TEXT, answer_id TEXT, reminded_at TEXT);
      INSERT INTO answer_case VALUES ('m-sent', 't', 'sn-melde', 'st-melde', 'ST', 'c', 3, '[]',
        '2026-12-23T09:00:00.000Z', '2026-12-29', NULL, NULL, '2026-12-30T09:00:00.000Z');
      INSERT INTO answer_case VALUES ('m-due', 't', 'sn-melde', 'st-melde', 'ST', 'c', 3, '[]',
        '2026-12-23T09:00:00.000Z', '2026-12-29', NULL, NULL, NULL);
    `);
    old.close();
    const store = new SqliteOverdueCaseStore(file);
    try {
      const at = '2026-12-31T09:00:00.000Z';
      const until = '2026-12-31T09:05:00.000Z';
      expect(await store.claimReminder('m-sent', at, until)).toBe(false);
      expect(await store.claimReminder('m-due', at, until)).toBe(true);
      expect((await store.overdue('2026-12-31')).map((c) => [c.messageId, c.remindedAt])).toEqual([
        ['m-due', null],
        ['m-sent', '2026-12-30T09:00:00.000Z'],
      ]);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
