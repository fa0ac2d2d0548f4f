/**
 * The quota count in PostgreSQL (deploy/sql/008_message_quota.sql), shared by every replica: one
 * row per system and Berlin day, and a reservation is one conditional upsert (used + 1 only while
 * used < limit), so replicas racing for the last unit get it once between them: the row lock
 * orders them and the second one sees the first one's increment.
 *
 * The first reservation of a system on a day in a process makes sure the day's row exists: a row
 * made by another replica is taken as it is; a missing one starts at the audit trail's accepted
 * count, so an upgrade from per-process counting (or a database restored mid-day) does not hand
 * out the day's quota again. That first reservation of a new day also deletes the rows before
 * yesterday; yesterday's stays for a replica whose clock is a little behind.
 *
 * The pool opens (and the migrations are checked) at the first reservation, not at startup: most
 * directories set no quota, and every replica would otherwise hold an idle connection for nothing.
 * Reservations racing for that first connect share it; a connect that fails fails those
 * reservations (as a failing query does: gateway/http/message-quota.ts) and the next one tries again.
 */
import type pg from 'pg';
import { openStorePool } from '../db/migrate.ts';
import { assertSchemaName } from '../db/postgres.ts';
import { GatewayError } from '../errors/catalogue.ts';
import type { AcceptedOnDay, QuotaCounter } from '../ports/quota-counter.ts';

export interface PgQuotaCounterOptions {
  url: string;
  schema?: string | undefined;
  /** Apply pending migrations when the first reservation connects (default true). */
  migrate?: boolean;
  poolSize?: number;
  /** Shown in pg_stat_activity. Default 'laender-gateway quota'. */
  applicationName?: string;
  acceptedOnDay: AcceptedOnDay;
}

export class PgQuotaCounter implements QuotaCounter {
  readonly kind = 'postgres';
  /** Per system, the day whose row this process made sure of. */
  private readonly ready = new Map<string, { day: string; done: Promise<void> }>();
  /** The newest day for which this process deleted the older rows. */
  private purgedFor = '';

  /** From the first reservation on; undefined until then, after a connect that failed, and once closed. */
  private pool: Promise<pg.Pool> | undefined;
  private closed = false;

  constructor(private readonly options: PgQuotaCounterOptions) {
    // A misconfigured schema is a startup error, not one of the first message with a quota.
    if (options.schema !== undefined) assertSchemaName(options.schema);
  }

  async reserve(systemId: string, day: string, limit: number): Promise<boolean> {
    const pool = await this.connectOnce();
    await this.ensureRow(pool, systemId, day, limit);
    // An upsert rather than an UPDATE: a row deleted since (by hand) restarts at 1 instead of
    // refusing the system for the rest of the day.
    const result = await pool.query({
      name: 'message-quota-reserve',
      text: `INSERT INTO message_quota (system_id, day, used) VALUES ($1, $2, 1)
             ON CONFLICT (system_id, day) DO UPDATE SET used = message_quota.used + 1
             WHERE message_quota.used < $3
             RETURNING used`,
      values: [systemId, day, limit],
    });
    return result.rowCount === 1;
  }

  async release(systemId: string, day: string): Promise<void> {
    // Not connected: this process reserved nothing, so there is nothing to give back.
    if (!this.pool) return;
    const pool = await this.pool;
    await pool.query({
      name: 'message-quota-release',
      text: 'UPDATE message_quota SET used = used - 1 WHERE system_id = $1 AND day = $2 AND used > 0',
      values: [systemId, day],
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const opening = this.pool;
    this.pool = undefined;
    // A connect that failed ended its own pool.
    const pool = await opening?.catch(() => undefined);
    await pool?.end();
  }

  private connectOnce(): Promise<pg.Pool> {
    if (this.closed)
      return Promise.reject(new GatewayError('GW_ERR_NOT_READY', 'the quota counter is closed'));
    if (this.pool) return this.pool;
    const opening = this.connect();
    this.pool = opening;
    // A failed connect is not remembered: the next reservation tries again.
    opening.catch(() => {
      if (this.pool === opening) this.pool = undefined;
    });
    return opening;
  }

  private connect(): Promise<pg.Pool> {
    return openStorePool({
      url: this.options.url,
      schema: this.options.schema,
      max: this.options.poolSize ?? 2,
      applicationName: this.options.applicationName ?? 'laender-gateway quota',
      migrate: this.options.migrate,
      table: 'message_quota',
    });
  }

  private ensureRow(pool: pg.Pool, systemId: string, day: string, limit: number): Promise<void> {
    const known = this.ready.get(systemId);
    if (known?.day === day) return known.done;
    const entry = { day, done: this.seed(pool, systemId, day, limit) };
    this.ready.set(systemId, entry);
    // A failed seed is not remembered: the next reservation tries again.
    entry.done.catch(() => {
      if (this.ready.get(systemId) === entry) this.ready.delete(systemId);
    });
    return entry.done;
  }

  private async seed(pool: pg.Pool, systemId: string, day: string, limit: number): Promise<void> {
    if (day > this.purgedFor) {
      await pool.query({
        name: 'message-quota-purge',
        text: `DELETE FROM message_quota WHERE day < to_char($1::date - 1, 'YYYY-MM-DD')`,
        values: [day],
      });
      this.purgedFor = day;
    }
    const exists = await pool.query({
      name: 'message-quota-exists',
      text: 'SELECT 1 FROM message_quota WHERE system_id = $1 AND day = $2',
      values: [systemId, day],
    });
    if (exists.rowCount) return;
    const used = await this.options.acceptedOnDay(systemId, day, limit);
    // A replica that created the row meanwhile seeded it from the same trail, and it may be counting on.
    await pool.query({
      name: 'message-quota-seed',
      text: 'INSERT INTO message_quota (system_id, day, used) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
      values: [systemId, day, used],
    });
  }
}
