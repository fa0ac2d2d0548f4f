/**
 * Claims on nachrichtenUUIDs across the processes sharing one PostgreSQL database
 * (deploy/sql/012_message_id_claim.sql): without them, two processes given the same id at once both
 * find the audit trail silent and both publish (the in-process claims cannot see each other).
 *
 * - A claim is one upsert of all the request's ids: a row is taken when it is free, expired, or this
 *   process's own (the in-process claims let one request per id of this process get here, so an own
 *   row is a release that has not arrived yet). Fewer rows than ids: the taken ones are given back,
 *   all or none, and the request polls (backing off) until the holder releases or its lease expires.
 *   It waits rather than being answered 409: 409 says "already accepted", and the holder may fail.
 * - A claim is a lease of LEASE_MS, renewed every quarter of it by one timer for the ids this
 *   process holds: a process that dies holds its ids LEASE_MS at most, and a request waiting for one
 *   then goes ahead (a sender's retry is delayed that long, never refused).
 * - Released once the request is answered: accepted, `accepted` is in the trail, which refuses the
 *   ids from then on; refused or failed, the ids are free again.
 *
 * What it does not cover: a holder that stalls longer than LEASE_MS between two renewals (a blocked
 *   event loop, a stopped VM) loses its claims while it may still publish; another process may then
 *   accept the same id too. The deliver side drops a second copy by message id (delivery.ts, the
 *   mailbox), as it does for the bus's own resends; the trail would show two `accepted`.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { openStorePool } from '../db/migrate.ts';
import { assertSchemaName } from '../db/postgres.ts';
import { GatewayError } from '../errors/catalogue.ts';
import type { Logger } from '../log/logger.ts';
import type { SharedMessageIdClaims } from '../ports/shared-message-id-claims.ts';

/** How long a claim outlives its holder's last renewal. */
export const LEASE_MS = 20_000;

export interface PgMessageIdLeasesOptions {
  url: string;
  schema?: string | undefined;
  /** Apply pending migrations on connect (default true). */
  migrate?: boolean;
  poolSize?: number;
  logger: Logger;
  /** Tests: a shorter lease (renewed at a quarter of it) and polling. */
  leaseMs?: number;
  pollMs?: { first: number; max: number };
}

export class PgMessageIdLeases implements SharedMessageIdClaims {
  /** This process, as the holder of its claims. */
  readonly holder = `${process.pid}:${randomUUID()}`;
  private readonly leaseMs: number;
  private readonly pollMs: { first: number; max: number };
  /**
   * Ids this process holds: renewed while there are any. Only these: a row whose release did not
   * reach the database must expire, not live on with this process's other claims.
   */
  private readonly held = new Set<string>();
  private renewal: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly options: PgMessageIdLeasesOptions,
  ) {
    this.leaseMs = options.leaseMs ?? LEASE_MS;
    this.pollMs = options.pollMs ?? { first: 20, max: 500 };
  }

  static async connect(options: PgMessageIdLeasesOptions): Promise<PgMessageIdLeases> {
    if (options.schema !== undefined) assertSchemaName(options.schema);
    const pool = await openStorePool({
      url: options.url,
      schema: options.schema,
      max: options.poolSize ?? 4,
      applicationName: 'laender-gateway message id claims',
      migrate: options.migrate,
      table: 'message_id_claim',
    });
    // Claims left by processes that died: expired, so nobody waits for them; only their rows go.
    await pool.query('DELETE FROM message_id_claim WHERE expires_at < now()');
    return new PgMessageIdLeases(pool, options);
  }

  async claim(messageIds: readonly string[]): Promise<void> {
    let wait = this.pollMs.first;
    for (;;) {
      if (this.closed) throw new GatewayError('GW_ERR_NOT_READY', 'the gateway is shutting down');
      if (await this.tryClaim(messageIds)) return;
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, this.pollMs.max);
    }
  }

  async release(messageIds: readonly string[]): Promise<void> {
    for (const id of messageIds) this.held.delete(id);
    if (this.held.size === 0) this.stopRenewal();
    await this.pool.query({
      name: 'message-id-claim-release',
      text: 'DELETE FROM message_id_claim WHERE message_id = ANY($1::text[]) AND holder = $2',
      values: [messageIds, this.holder],
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopRenewal();
    await this.pool.end();
  }

  /**
   * One upsert for all ids; true if all are this process's now, else none is. In id order, so that
   * two processes claiming overlapping batches lock the rows in one order (no deadlock).
   */
  private async tryClaim(messageIds: readonly string[]): Promise<boolean> {
    const taken = await this.pool.query<{ message_id: string }>({
      name: 'message-id-claim',
      text: `INSERT INTO message_id_claim (message_id, holder, expires_at)
             SELECT id, $2, now() + make_interval(secs => $3) FROM unnest($1::text[]) AS id ORDER BY id
             ON CONFLICT (message_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
             WHERE message_id_claim.expires_at < now() OR message_id_claim.holder = EXCLUDED.holder
             RETURNING message_id`,
      values: [messageIds, this.holder, this.leaseMs / 1000],
    });
    if (taken.rowCount === messageIds.length) {
      for (const id of messageIds) this.held.add(id);
      this.startRenewal();
      return true;
    }
    if (taken.rowCount)
      await this.pool.query({
        name: 'message-id-claim-release',
        text: 'DELETE FROM message_id_claim WHERE message_id = ANY($1::text[]) AND holder = $2',
        values: [taken.rows.map((r) => r.message_id), this.holder],
      });
    return false;
  }

  private startRenewal(): void {
    if (this.renewal) return;
    this.renewal = setInterval(() => {
      this.pool
        .query({
          name: 'message-id-claim-renew',
          text: `UPDATE message_id_claim SET expires_at = now() + make_interval(secs => $3)
                 WHERE message_id = ANY($2::text[]) AND holder = $1`,
          values: [this.holder, [...this.held], this.leaseMs / 1000],
        })
        .catch((err: unknown) => this.options.logger.warn({ err }, 'could not renew the message id claims'));
    }, this.leaseMs / 4);
    this.renewal.unref();
  }

  private stopRenewal(): void {
    clearInterval(this.renewal);
    this.renewal = undefined;
  }
}
