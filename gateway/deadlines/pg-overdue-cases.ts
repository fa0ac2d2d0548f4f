/**
 * The open answer cases in PostgreSQL (deploy/sql/007_answer_cases.sql and
 * 010_answer_case_reminder_claim.sql), shared by every replica: each lists the same overdue cases,
 * and the reminder of a case is claimed (for a while: a lease) by one conditional UPDATE, so one
 * replica sends it. Opening a case and recording an answer to it take the
 * same transaction-scoped advisory lock (keyed by the case's message id): otherwise two replicas
 * opening and answering at once would each miss the other's uncommitted row and leave the case
 * open although answered.
 */
import type pg from 'pg';
import { openStorePool } from '../db/migrate.ts';
import { inTransaction } from '../db/postgres.ts';
import {
  answers,
  type CaseAnswer,
  type OpenCase,
  type OverdueCaseStore,
  type StoredCase,
} from '../ports/overdue-case-store.ts';
import { type CaseRow, INSERT_COLUMNS, insertArgs, toCase } from './case-row.ts';

export interface PgOverdueCaseStoreOptions {
  url: string;
  schema?: string | undefined;
  /** Apply pending migrations on connect (default true). */
  migrate?: boolean;
  poolSize?: number;
}

const LOCK = "SELECT pg_advisory_xact_lock(hashtext('laender-gateway:case:' || $1))";

export class PgOverdueCaseStore implements OverdueCaseStore {
  readonly kind = 'postgres';

  private constructor(private readonly pool: pg.Pool) {}

  static async connect(options: PgOverdueCaseStoreOptions): Promise<PgOverdueCaseStore> {
    const pool = await openStorePool({
      url: options.url,
      schema: options.schema,
      max: options.poolSize ?? 2,
      applicationName: 'laender-gateway deadlines',
      migrate: options.migrate,
      table: 'answer_case',
    });
    return new PgOverdueCaseStore(pool);
  }

  async open(c: OpenCase): Promise<boolean> {
    return inTransaction(this.pool, async (client) => {
      await client.query(LOCK, [c.messageId]);
      const inserted = await client.query(
        `INSERT INTO answer_case (${INSERT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT DO NOTHING`,
        insertArgs(c),
      );
      const earlier = (
        await client.query<{ answer_id: string; answer_type: string; answered_at: string }>(
          'SELECT answer_id, answer_type, answered_at FROM case_answer WHERE referenz_id = $1 ORDER BY answered_at',
          [c.messageId],
        )
      ).rows;
      const first = earlier.find((a) => answers(a.answer_type, c.answeredBy));
      if (first) await this.closeCase(client, c.messageId, first.answer_id, first.answered_at);
      return inserted.rowCount === 1;
    });
  }

  async answer(a: CaseAnswer): Promise<boolean> {
    return inTransaction(this.pool, async (client) => {
      await client.query(LOCK, [a.referenzUUID]);
      await client.query(
        `INSERT INTO case_answer (referenz_id, answer_id, answer_type, answered_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING`,
        [a.referenzUUID, a.answerId, a.answerType, a.answeredAt],
      );
      const row = (
        await client.query<CaseRow>('SELECT * FROM answer_case WHERE message_id = $1', [a.referenzUUID])
      ).rows[0];
      const open = row && toCase(row);
      if (!open || open.answeredAt || !answers(a.answerType, open.answeredBy)) return false;
      return this.closeCase(client, a.referenzUUID, a.answerId, a.answeredAt);
    });
  }

  private async closeCase(
    client: pg.PoolClient,
    messageId: string,
    answerId: string,
    answeredAt: string,
  ): Promise<boolean> {
    const result = await client.query(
      'UPDATE answer_case SET answered_at = $1, answer_id = $2 WHERE message_id = $3 AND answered_at IS NULL',
      [answeredAt, answerId, messageId],
    );
    return result.rowCount === 1;
  }

  async overdue(today: string): Promise<StoredCase[]> {
    const result = await this.pool.query<CaseRow>({
      name: 'answer-case-overdue',
      text: `SELECT * FROM answer_case WHERE answered_at IS NULL AND deadline < $1
             ORDER BY deadline, delivered_at, message_id`,
      values: [today],
    });
    return result.rows.map(toCase);
  }

  async claimReminder(messageId: string, at: string, until: string): Promise<boolean> {
    // One statement: the row lock makes a second replica's UPDATE wait and then see the live claim.
    const result = await this.pool.query({
      name: 'answer-case-claim-reminder',
      text: `UPDATE answer_case SET reminder_claimed_until = $3
             WHERE message_id = $1 AND answered_at IS NULL AND reminded_at IS NULL
               AND (reminder_claimed_until IS NULL OR reminder_claimed_until <= $2)`,
      values: [messageId, at, until],
    });
    return result.rowCount === 1;
  }

  async markReminded(messageId: string, at: string): Promise<boolean> {
    const result = await this.pool.query({
      name: 'answer-case-remind',
      text: 'UPDATE answer_case SET reminded_at = $1 WHERE message_id = $2 AND reminded_at IS NULL',
      values: [at, messageId],
    });
    return result.rowCount === 1;
  }

  async get(messageId: string): Promise<StoredCase | undefined> {
    const row = (
      await this.pool.query<CaseRow>({
        name: 'answer-case-get',
        text: 'SELECT * FROM answer_case WHERE message_id = $1',
        values: [messageId],
      })
    ).rows[0];
    return row && toCase(row);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
