/**
 * Claims on nachrichtenUUIDs across the processes sharing one PostgreSQL database
 * (deploy/sql/012_message_id_claim.sql): without them, two processes given the same id at once both
 * find the audit trail silent and both publish (the in-process claims cannot see each other).
 *
 * - A claim takes all the request's ids or none: a row is taken when it is free, expired, or this
 *   process's own (the in-process claims let one request per id of this process get here, so an own
 *   row is a release that has not arrived yet, or the lapsing claim of an accepted request). Fewer
 *   rows than ids: the taken ones are given back. The request then asks the trail whether one of
 *   the ids was accepted (409 at once: an accepting holder leaves its rows to expire), and if not,
 *   polls (backing off) until the holder releases or its lease expires. It waits rather than being
 *   answered 409 while nothing was accepted: 409 says "already accepted", and the holder may fail.
 * - A claim is a lease of LEASE_MS, renewed every quarter of it by one timer for the ids this
 *   process holds: a process that dies holds its ids LEASE_MS at most, and a request waiting for one
 *   then goes ahead (a sender's retry is delayed that long, never refused).
 * - Accepted, a request's rows are no longer renewed and left to expire: `accepted` is in the trail,
 *   which refuses the ids from then on, and a DELETE per request would be a round trip on every
 *   message. Refused or failed, they are deleted: the ids are free again for the sender's retry.
 *   Every LEASE_MS each process deletes the expired rows, so the table holds about two leases'
 *   worth of accepted ids.
 * - Claims made together (concurrent requests) go to PostgreSQL as one upsert, and so do deletions
 *   (coalesced-statement.ts); each request still gets its ids all or none. Every statement locks
 *   its rows in id order (COLLATE "C"), so two processes' statements cannot deadlock; the sweep
 *   skips rows others have locked, and waits for none.
 *
 * What it does not cover: a holder that stalls longer than LEASE_MS between two renewals (a blocked
 *   event loop, a stopped VM) loses its claims while it may still publish; another process may then
 *   accept the same id too. The deliver side drops a second copy by message id (delivery.ts, the
 *   mailbox), as it does for the bus's own resends; the trail would show two `accepted`.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { CoalescedStatement } from '../db/coalesced-statement.ts';
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
  /** Tests: a shorter lease (renewed at a quarter of it, swept once per lease) and polling. */
  leaseMs?: number;
  pollMs?: { first: number; max: number };
}

/** One request's part of a coalesced claim. */
interface ClaimOutcome {
  claimed: boolean;
  /** The ids the statement took for the request; given back unless `claimed`. */
  taken: string[];
}

/** Deletes this holder's rows of the ids, locking them in id order first. */
const DELETE_OWN_ROWS = `DELETE FROM message_id_claim WHERE message_id IN (
  SELECT message_id FROM message_id_claim WHERE message_id = ANY($1::text[]) AND holder = $2
  ORDER BY message_id FOR UPDATE)`;

export class PgMessageIdLeases implements SharedMessageIdClaims {
  /** This process, as the holder of its claims. */
  readonly holder = `${process.pid}:${randomUUID()}`;
  private readonly leaseMs: number;
  private readonly pollMs: { first: number; max: number };
  /**
   * Ids this process holds for requests in flight: renewed while there are any. Only these: a row
   * whose release did not reach the database, or whose request was accepted, must expire.
   */
  private readonly held = new Set<string>();
  private readonly claims = new CoalescedStatement((requests: (readonly string[])[]) =>
    this.claimTogether(requests),
  );
  private readonly deletions = new CoalescedStatement((requests: (readonly string[])[]) =>
    this.deleteTogether(requests),
  );
  private renewal: NodeJS.Timeout | undefined;
  private readonly sweep: NodeJS.Timeout;
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly options: PgMessageIdLeasesOptions,
  ) {
    this.leaseMs = options.leaseMs ?? LEASE_MS;
    this.pollMs = options.pollMs ?? { first: 20, max: 500 };
    this.sweep = setInterval(() => {
      sweepExpired(pool).catch((err: unknown) =>
        options.logger.warn({ err }, 'could not delete expired message id claims'),
      );
    }, this.leaseMs);
    this.sweep.unref();
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
    // Expired claims (of processes that died, of accepted requests) would wait for the first sweep.
    await sweepExpired(pool);
    return new PgMessageIdLeases(pool, options);
  }

  async claim(messageIds: readonly string[], refuseAccepted: () => Promise<void>): Promise<void> {
    let wait = this.pollMs.first;
    for (;;) {
      if (this.closed) throw new GatewayError('GW_ERR_NOT_READY', 'the gateway is shutting down');
      const { claimed, taken } = await this.claims.call(messageIds);
      if (claimed) {
        for (const id of messageIds) this.held.add(id);
        this.startRenewal();
        return;
      }
      if (taken.length > 0) await this.deletions.call(taken);
      await refuseAccepted();
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, this.pollMs.max);
    }
  }

  async release(messageIds: readonly string[], outcome: { accepted: boolean }): Promise<void> {
    for (const id of messageIds) this.held.delete(id);
    if (this.held.size === 0) this.stopRenewal();
    if (!outcome.accepted) await this.deletions.call(messageIds);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopRenewal();
    clearInterval(this.sweep);
    await this.pool.end();
  }

  /**
   * One upsert for the ids of all requests claiming together, in id order. An id two of them
   * claim (the in-process claims keep that from happening) is the first one's: the other is
   * answered as if another process held it.
   */
  private async claimTogether(requests: (readonly string[])[]): Promise<ClaimOutcome[]> {
    const claimant = new Map<string, number>();
    const outcomes = requests.map((): ClaimOutcome & { wanted: number } => ({
      claimed: true,
      taken: [],
      wanted: 0,
    }));
    requests.forEach((ids, r) => {
      for (const id of ids) {
        const first = claimant.get(id);
        if (first === undefined) {
          claimant.set(id, r);
          outcomes[r]!.wanted++;
        } else if (first !== r) outcomes[r]!.claimed = false;
      }
    });
    const taken = await this.pool.query<{ message_id: string }>({
      name: 'message-id-claim',
      text: `INSERT INTO message_id_claim (message_id, holder, expires_at)
             SELECT id, $2, now() + make_interval(secs => $3)
             FROM unnest($1::text[]) AS id ORDER BY id COLLATE "C"
             ON CONFLICT (message_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
             WHERE message_id_claim.expires_at < now() OR message_id_claim.holder = EXCLUDED.holder
             RETURNING message_id`,
      values: [[...claimant.keys()], this.holder, this.leaseMs / 1000],
    });
    for (const { message_id } of taken.rows) outcomes[claimant.get(message_id)!]!.taken.push(message_id);
    return outcomes.map((o) => ({ claimed: o.claimed && o.taken.length === o.wanted, taken: o.taken }));
  }

  /** Deletes this process's rows of the ids of all requests giving theirs back together. */
  private async deleteTogether(requests: (readonly string[])[]): Promise<undefined[]> {
    await this.pool.query({
      name: 'message-id-claim-delete',
      text: DELETE_OWN_ROWS,
      values: [requests.flat(), this.holder],
    });
    return requests.map(() => undefined);
  }

  private startRenewal(): void {
    if (this.renewal) return;
    this.renewal = setInterval(() => {
      this.pool
        .query({
          name: 'message-id-claim-renew',
          text: `UPDATE message_id_claim SET expires_at = now() + make_interval(secs => $3)
                 WHERE message_id IN (
                   SELECT message_id FROM message_id_claim WHERE message_id = ANY($2::text[]) AND holder = $1
                   ORDER BY message_id FOR UPDATE)`,
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

/**
 * Deletes the expired claims: of accepted requests, and of processes that died. Skips the rows
 * another statement has locked (a claim taking one over): the sweep waits for nobody, so it
 * cannot deadlock with the claims, which lock in id order.
 */
function sweepExpired(pool: pg.Pool): Promise<unknown> {
  return pool.query({
    name: 'message-id-claim-sweep',
    text: `DELETE FROM message_id_claim WHERE message_id IN (
             SELECT message_id FROM message_id_claim WHERE expires_at < now() FOR UPDATE SKIP LOCKED)`,
  });
}
