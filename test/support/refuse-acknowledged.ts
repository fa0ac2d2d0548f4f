/**
 * Makes a gateway's audit log refuse the `acknowledged` entry of one message with a real store error
 * (a trigger: SQLite's RAISE, PostgreSQL's RAISE EXCEPTION), so that an ack commits in the mailbox
 * and its audit append fails at once — no held write lock whose busy timeout the test waits out.
 * Each returns the undo.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { withPgClient } from '../conformance/pg-test-schema.ts';

const REFUSAL = 'test: the audit log refuses this acknowledged';

/** In `<dataDir>/audit.sqlite` (the embedded audit log). */
export async function refuseAcknowledgedInSqlite(
  dataDir: string,
  messageId: string,
): Promise<() => Promise<void>> {
  const db = new Database(path.join(dataDir, 'audit.sqlite'), { fileMustExist: true });
  try {
    db.exec(`CREATE TRIGGER refuse_ack BEFORE INSERT ON audit_entries
      WHEN NEW.kind = 'acknowledged' AND NEW.message_id = '${messageId}'
      BEGIN SELECT RAISE(ABORT, '${REFUSAL}'); END`);
  } catch (error) {
    db.close();
    throw error;
  }
  return async () => {
    try {
      db.exec('DROP TRIGGER refuse_ack');
    } finally {
      db.close();
    }
  };
}

/** In the PostgreSQL schema the gateways share. */
export async function refuseAcknowledgedInPg(
  schema: string,
  messageId: string,
): Promise<() => Promise<void>> {
  await withPgClient(schema, async (c) => {
    await c.query(`CREATE FUNCTION refuse_ack() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION '${REFUSAL}'; END $$`);
    await c.query(
      `CREATE TRIGGER refuse_ack BEFORE INSERT ON audit_entries FOR EACH ROW
       WHEN (NEW.kind = 'acknowledged' AND NEW.message_id = '${messageId}') EXECUTE FUNCTION refuse_ack()`,
    );
  });
  return () =>
    withPgClient(schema, async (c) => {
      await c.query('DROP TRIGGER refuse_ack ON audit_entries');
      await c.query('DROP FUNCTION refuse_ack()');
    });
}
