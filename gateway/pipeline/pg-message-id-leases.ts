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
 * - Waiting for a holder is bounded by the caller (`waitUntil`, config messageIdWaitMs), not by the
 *   lease: past it the request is answered 503 GW_ERR_MESSAGE_ID_IN_FLIGHT and the sender retries.
 * - Fencing: a holder that stalls longer than the lease (a blocked event loop, a long GC, a stopped
 *   VM) loses its claims while it may still go on to publish, and another process may meanwhile
 *   have claimed, published and accepted the same id. So the request confirms its lease right
 *   before publishing (`confirm`): fresh by this process's clocks (its last claim or renewal sent
 *   less than leaseMs - confirmMarginMs ago, by the monotonic and the wall clock both, so that
 *   neither a stopped VM's monotonic clock nor a wall clock set back hides a stall), it costs
 *   nothing; else one conditional UPDATE extends the rows only if they still carry this holder, and
 *   a request whose rows did not all is answered 503 GW_ERR_MESSAGE_ID_CLAIM_LOST, having published
 *   nothing. The clocks are read before each statement is sent, and PostgreSQL's now() is later, so
 *   the row expires no earlier than this process believes.
 *   The holder is the process, not the request: a row of this process's that carries an id of a
 *   request in flight is that request's claim, since the in-process claims let no other request of
 *   the process claim the id meanwhile, and no other process gives a row back to this holder.
 *
 * What it does not cover: a stall between the confirm and the end of the publish longer than the
 *   margin (the publish itself hangs, or the process stops right then); the deliver side drops a
 *   second copy by message id (delivery.ts, the mailbox), as it does for the bus's own resends, and
 *   the trail would show two `accepted`. Nor a database whose clock jumps ahead by more than a lease.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { CoalescedStatement } from '../db/coalesced-statement.ts';
import { openStorePool } from '../db/migrate.ts';
import { assertSchemaName } from '../db/postgres.ts';
import { GatewayError } from '../errors/catalogue.ts';
import type { Logger } from '../log/logger.ts';
import type { SharedMessageIdClaims, SharedMessageIdLease } from '../ports/shared-message-id-claims.ts';
import { messageIdInFlight } from './message-id-claims.ts';

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
  /**
   * How much of the lease must be left when a request confirms it, for the sealing and the publish
   * that follow (the publish is bounded by the bus's timeout, kafka.publishTimeoutMs, default 10 s);
   * less, and the confirm extends it in PostgreSQL. Default half the lease: with renewals every
   * quarter of it, a lease of a process that did not stall always has that much left.
   */
  confirmMarginMs?: number;
}

/**
 * One request's claim on its ids, as this process knows it. `validUntil` and `wallValidUntil`: the
 * earliest the rows can expire (the send time of the last statement that set them, plus the lease),
 * by performance.now() and by Date.now().
 */
interface Lease {
  readonly ids: readonly string[];
  validUntil: number;
  wallValidUntil: number;
  /** A renewal found a row no longer this holder's. */
  lost: boolean;
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

/**
 * Extends this holder's rows of the ids by a lease, locking them in id order first; returns the ids
 * extended. A row another process took over (or that was deleted) is not this holder's any more.
 */
const RENEW_OWN_ROWS = {
  name: 'message-id-claim-renew',
  text: `UPDATE message_id_claim SET expires_at = now() + make_interval(secs => $3)
         WHERE message_id IN (
           SELECT message_id FROM message_id_claim WHERE message_id = ANY($1::text[]) AND holder = $2
           ORDER BY message_id FOR UPDATE)
         RETURNING message_id`,
};

export class PgMessageIdLeases implements SharedMessageIdClaims {
  /** This process, as the holder of its claims. */
  readonly holder = `${process.pid}:${randomUUID()}`;
  private readonly leaseMs: number;
  private readonly pollMs: { first: number; max: number };
  private readonly confirmMarginMs: number;
  /**
   * Ids this process holds for requests in flight, and their requests' leases: renewed while there
   * are any. Only these: a row whose release did not reach the database, or whose request was
   * accepted, must expire.
   */
  private readonly held = new Map<string, Lease>();
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
    this.confirmMarginMs = options.confirmMarginMs ?? this.leaseMs / 2;
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

  async claim(
    messageIds: readonly string[],
    refuseAccepted: () => Promise<void>,
    options: { waitUntil?: number } = {},
  ): Promise<SharedMessageIdLease> {
    const { waitUntil = Number.POSITIVE_INFINITY } = options;
    const waitStarted = performance.now();
    let wait = this.pollMs.first;
    for (;;) {
      if (this.closed) throw new GatewayError('GW_ERR_NOT_READY', 'the gateway is shutting down');
      // Before the statement is sent: the rows expire no earlier than a lease after this.
      const sent = performance.now();
      const wallSent = Date.now();
      const { claimed, taken } = await this.claims.call(messageIds);
      if (claimed) {
        const lease: Lease = {
          ids: messageIds,
          validUntil: sent + this.leaseMs,
          wallValidUntil: wallSent + this.leaseMs,
          lost: false,
        };
        for (const id of messageIds) this.held.set(id, lease);
        this.startRenewal();
        return { confirm: () => this.confirm(lease) };
      }
      if (taken.length > 0) await this.deletions.call(taken);
      await refuseAccepted();
      const left = waitUntil - performance.now();
      if (left <= 0) {
        const heldId = messageIds.find((id) => !taken.includes(id));
        throw messageIdInFlight(heldId, Math.round(performance.now() - waitStarted));
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(wait, left)));
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

  /** The fencing check (module comment): free while the lease is fresh, else one conditional UPDATE. */
  private confirm(lease: Lease): Promise<void> | undefined {
    if (lease.lost) return Promise.reject(claimLost(lease.ids, 'another process took it over'));
    const margin = this.confirmMarginMs;
    if (performance.now() + margin <= lease.validUntil && Date.now() + margin <= lease.wallValidUntil)
      return undefined;
    return this.extend(lease);
  }

  private async extend(lease: Lease): Promise<void> {
    const sent = performance.now();
    const wallSent = Date.now();
    let extended: number;
    try {
      extended =
        (await this.pool.query({ ...RENEW_OWN_ROWS, values: [lease.ids, this.holder, this.leaseMs / 1000] }))
          .rowCount ?? 0;
    } catch (cause) {
      throw claimLost(lease.ids, 'the database did not answer', cause);
    }
    if (extended < new Set(lease.ids).size) {
      lease.lost = true;
      throw claimLost(lease.ids, 'it lapsed and was taken over or deleted');
    }
    lease.validUntil = Math.max(lease.validUntil, sent + this.leaseMs);
    lease.wallValidUntil = Math.max(lease.wallValidUntil, wallSent + this.leaseMs);
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
      this.renew().catch((err: unknown) =>
        this.options.logger.warn({ err }, 'could not renew the message id claims'),
      );
    }, this.leaseMs / 4);
    this.renewal.unref();
  }

  /**
   * Extends the rows of every request in flight; a request whose rows were not all extended has lost
   * its claim (its confirm refuses to publish), the others' leases run from this statement's sending.
   */
  private async renew(): Promise<void> {
    const renewing = [...this.held];
    const sent = performance.now();
    const wallSent = Date.now();
    const { rows } = await this.pool.query<{ message_id: string }>({
      ...RENEW_OWN_ROWS,
      values: [renewing.map(([id]) => id), this.holder, this.leaseMs / 1000],
    });
    const renewed = new Set(rows.map((r) => r.message_id));
    for (const [id, lease] of renewing) if (!renewed.has(id)) lease.lost = true;
    for (const [, lease] of renewing) {
      if (lease.lost) continue;
      lease.validUntil = Math.max(lease.validUntil, sent + this.leaseMs);
      lease.wallValidUntil = Math.max(lease.wallValidUntil, wallSent + this.leaseMs);
    }
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

function claimLost(ids: readonly string[], why: string, cause?: unknown): GatewayError {
  return new GatewayError(
    'GW_ERR_MESSAGE_ID_CLAIM_LOST',
    `the claim on nachrichtenUUID ${ids[0]}${ids.length > 1 ? ` (and ${ids.length - 1} more)` : ''} could not be confirmed before publishing: ${why}; nothing was published, retry later`,
    { headers: { 'retry-after': '1' }, cause },
  );
}
