/**
 * Makes a gateway's audit log refuse the `acknowledged` entry of one message with a real store error
 * (a trigger: SQLite's RAISE, PostgreSQL's RAISE EXCEPTION), so that an ack commits in the mailbox
 * and its audit append fails at once — no held write lock whose busy timeout the test waits out.
 * Each refusal returns the undo; expectRepairedAcknowledged checks the entry once it is written.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'vitest';
import { ACK_REPAIR_CHAIN } from '../../gateway/mailbox/pull-ack-audit.ts';
import type { AuditEntry } from '../../gateway/ports/audit-store.ts';
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

/**
 * The `acknowledged` entries of the refused message once repaired (by a resend or the ack audit
 * sweep): one, on the repair chain, as the receiver's pull ack of the sender's message.
 */
export function expectRepairedAcknowledged(acknowledged: AuditEntry[]): void {
  expect(acknowledged).toHaveLength(1);
  expect(acknowledged[0]).toMatchObject({
    chain: ACK_REPAIR_CHAIN,
    actor: 'system:st-melde',
    receiverSystem: 'st-melde',
    senderSystem: 'sn-melde',
    detail: { mode: 'pull', recovered: true },
  });
}
