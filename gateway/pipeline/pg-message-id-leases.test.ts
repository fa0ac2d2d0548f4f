/**
 * The cross-process message id claims against the machine's PostgreSQL: two instances on one schema
 * stand for two gateway processes of one installation. What the port promises of any implementation
 * (expiry of a dead holder's claims, renewal by a living one, the wait bound, fencing) is the
 * conformance suite's (test/conformance/shared-message-id-claims.conformance.ts); here, how this one
 * keeps it in its table and in the statements it sends.
 */
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { dropSchema, freshSchemaName, PG_URL, withPgClient } from '../../test/conformance/pg-test-schema.ts';
import { GatewayError } from '../errors/catalogue.ts';
import { createLogger } from '../log/logger.ts';
import { PgMessageIdLeases } from './pg-message-id-leases.ts';

const schema = freshSchemaName('idclaims');
const logger = createLogger({ level: 'silent' });
const opened: PgMessageIdLeases[] = [];

async function process_(
  leaseMs = 20_000,
  pollMs: { first: number; max: number } = { first: 10, max: 50 },
  options: { confirmMarginMs?: number } = {},
): Promise<PgMessageIdLeases> {
  const leases = await PgMessageIdLeases.connect({
    url: PG_URL,
    schema,
    logger,
    leaseMs,
    pollMs,
    ...options,
  });
  opened.push(leases);
  return leases;
}

/** Who holds which id, as the table says. */
async function holders(): Promise<Record<string, string>> {
  return withPgClient(schema, async (c) =>
    Object.fromEntries(
      (await c.query('SELECT message_id, holder FROM message_id_claim')).rows.map((r) => [
        r.message_id,
        r.holder,
      ]),
    ),
  );
}

/** The trail's answer while nothing was accepted. */
const nothingAccepted = async (): Promise<void> => {};
const FAILED = { accepted: false };

/** When the table says the id's claim expires (ms since the epoch, by the database's clock). */
async function expiresAt(id: string): Promise<number> {
  return withPgClient(schema, async (c) =>
    (
      await c.query('SELECT expires_at FROM message_id_claim WHERE message_id = $1', [id])
    ).rows[0].expires_at.getTime(),
  );
}

/** The statements a process sends while `body` runs (pg.Pool.prototype.query spied on). */
async function statementsDuring<T>(
  holder: string,
  body: () => Promise<T>,
): Promise<{ result: T; names: string[] }> {
  const queries = vi.spyOn(pg.Pool.prototype, 'query');
  try {
    const result = await body();
    const names = queries.mock.calls
      .map(([q]) => q as { name?: string; values?: unknown[] })
      .filter((q) => q.values?.includes(holder))
      .map((q) => q.name ?? '');
    return { result, names };
  } finally {
    queries.mockRestore();
  }
}

/** The error `promise` rejects with, as a GatewayError. */
async function gatewayErrorOf(promise: Promise<unknown> | undefined): Promise<GatewayError> {
  const error = await Promise.resolve(promise).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof GatewayError)) throw new Error(`expected a GatewayError, got ${String(error)}`);
  return error;
}

/** Whether `promise` is still pending after `ms`. */
async function pendingAfter(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const marker = Symbol('pending');
  const result = await Promise.race([promise, new Promise((r) => setTimeout(() => r(marker), ms))]);
  return result === marker;
}

describe('message id claims across processes (PostgreSQL)', () => {
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((l) => l.close()));
    await withPgClient(schema, (c) => c.query('DELETE FROM message_id_claim'));
  });
  afterAll(async () => dropSchema(schema));

  it('claims a batch all or none; the other process waits until the holder releases', async () => {
    const a = await process_();
    // Polling slowly: between two tries the table shows what b holds while waiting (z taken, then given back).
    const b = await process_(20_000, { first: 1_000, max: 1_000 });
    await a.claim(['x', 'y'], nothingAccepted);
    const waiting = b.claim(['z', 'y'], nothingAccepted);
    expect(await pendingAfter(waiting, 200)).toBe(true);
    // While b waits, it holds none of its ids: not even z, which nobody else holds.
    expect(await holders()).toEqual({ x: a.holder, y: a.holder });
    await a.release(['x', 'y'], FAILED);
    await waiting;
    expect(await holders()).toEqual({ y: b.holder, z: b.holder });
    await b.release(['z', 'y'], FAILED);
    expect(await holders()).toEqual({});
  });

  it('does not renew a row whose release did not arrive: it expires while the holder works on', async () => {
    const leaseMs = 400;
    const a = await process_(leaseMs);
    const b = await process_(leaseMs);
    await a.claim(['y'], nothingAccepted);
    // A row of a's that a failed release left behind (a no longer holds x), while a renews y.
    await withPgClient(schema, (c) =>
      c.query(`INSERT INTO message_id_claim VALUES ('x', $1, now() + make_interval(secs => $2))`, [
        a.holder,
        leaseMs / 1000,
      ]),
    );
    await b.claim(['x'], nothingAccepted);
    // y, which a does hold, is renewed.
    const waitingForY = b.claim(['y'], nothingAccepted);
    expect(await pendingAfter(waitingForY, leaseMs * 3)).toBe(true);
    expect(await holders()).toEqual({ x: b.holder, y: a.holder });
    await a.release(['y'], FAILED);
    await waitingForY;
  });

  it('takes back its own row that a failed release left behind', async () => {
    const a = await process_();
    await a.claim(['x'], nothingAccepted);
    // As if the release had not reached the database: the row is still a's, the request is done.
    await a.claim(['x'], nothingAccepted);
    expect(await holders()).toEqual({ x: a.holder });
  });

  it("leaves an accepted request's rows to expire; another process meeting one asks the trail and is refused at once", async () => {
    const leaseMs = 800;
    const a = await process_(leaseMs);
    const b = await process_(leaseMs);
    const trail = new Set<string>();
    const refuseAccepted = (ids: string[]) => async () => {
      const accepted = ids.find((id) => trail.has(id));
      if (accepted) throw new Error(`${accepted} was accepted`);
    };
    await a.claim(['x', 'y'], refuseAccepted(['x', 'y']));
    // a holds w for a request still in flight: its renewals go on.
    await a.claim(['w'], nothingAccepted);
    trail.add('x').add('y');
    await a.release(['x', 'y'], { accepted: true });
    expect(await holders()).toEqual({ w: a.holder, x: a.holder, y: a.holder });
    const started = Date.now();
    await expect(b.claim(['y', 'z'], refuseAccepted(['y', 'z']))).rejects.toThrow('y was accepted');
    expect(Date.now() - started).toBeLessThan(leaseMs / 2);
    // Refused with nothing claimed: z was taken with y and given back.
    expect(await holders()).toEqual({ w: a.holder, x: a.holder, y: a.holder });
    // Not renewed any more, unlike w: after the lease y is free (the ingress would have the trail refuse it).
    await new Promise((r) => setTimeout(r, leaseMs * 1.5));
    await b.claim(['y'], nothingAccepted);
    expect(await holders()).toMatchObject({ w: a.holder, y: b.holder });
  });

  it('sweeps expired rows once per lease, of dead processes and of accepted requests', async () => {
    const leaseMs = 300;
    const a = await process_(leaseMs);
    // A dead process's claim, expired after a connected (so not cleared on connect).
    await withPgClient(schema, (c) =>
      c.query(`INSERT INTO message_id_claim VALUES ('dead', 'gone:1', now() - interval '1 second')`),
    );
    await a.claim(['x'], nothingAccepted);
    await a.release(['x'], { accepted: true });
    expect(await holders()).toEqual({ dead: 'gone:1', x: a.holder });
    // x expires after one lease; the sweep runs every lease.
    await new Promise((r) => setTimeout(r, leaseMs * 3.5));
    expect(await holders()).toEqual({});
  });

  it("claims made together go as one statement; one request's held id neither blocks nor claims for the others", async () => {
    const a = await process_();
    // Polling slowly: the blocked request must not take x again while the table is looked at.
    const b = await process_(20_000, { first: 1_000, max: 1_000 });
    await a.claim(['y'], nothingAccepted);
    const queries = vi.spyOn(pg.Pool.prototype, 'query');
    try {
      const claimStatements = () =>
        queries.mock.calls.filter(([q]) => (q as { name?: string }).name === 'message-id-claim').length;
      let askedTrail = 0;
      const blocked = b.claim(['x', 'y'], async () => {
        askedTrail++;
      });
      await Promise.all([b.claim(['v', 'z'], nothingAccepted), b.claim(['w'], nothingAccepted)]);
      expect(claimStatements()).toBe(1);
      // The blocked request gave x back before it asked the trail.
      await vi.waitFor(() => expect(askedTrail).toBeGreaterThan(0));
      expect(await holders()).toEqual({ v: b.holder, w: b.holder, y: a.holder, z: b.holder });
      expect(await pendingAfter(blocked, 200)).toBe(true);
      await a.release(['y'], FAILED);
      await blocked;
      expect(await holders()).toMatchObject({ x: b.holder, y: b.holder });
    } finally {
      queries.mockRestore();
    }
  });

  it('overlapping batches of two processes, claimed and released together, never deadlock', async () => {
    const a = await process_();
    const b = await process_();
    const ids = Array.from({ length: 24 }, (_, i) => `id-${String(i).padStart(2, '0')}`);
    const pick = () => [0, 1, 2].map(() => ids[Math.floor(Math.random() * ids.length)]!);
    // One process's concurrent requests never share an id (the in-process claims see to that).
    const requests = async (leases: PgMessageIdLeases) => {
      const batches = Array.from({ length: 8 }, pick);
      const seen = new Set<string>();
      const distinct = batches.filter((ids) => {
        const fresh = new Set(ids).size === ids.length && ids.every((id) => !seen.has(id));
        if (fresh) for (const id of ids) seen.add(id);
        return fresh;
      });
      await Promise.all(
        distinct.map(async (ids) => {
          await leases.claim(ids, nothingAccepted);
          await leases.release(ids, FAILED);
        }),
      );
    };
    for (let round = 0; round < 20; round++) await Promise.all([requests(a), requests(b)]);
    expect(await holders()).toEqual({});
  });

  it('a new process clears expired claims of dead ones when it connects', async () => {
    const dead = await process_(200);
    await dead.claim(['x', 'y'], nothingAccepted);
    await dead.close();
    await new Promise((r) => setTimeout(r, 400));
    await process_();
    expect(await holders()).toEqual({});
  });

  it('confirms a fresh lease without a round trip to the database', async () => {
    const a = await process_();
    const lease = await a.claim(['x', 'y'], nothingAccepted);
    const { result, names } = await statementsDuring(a.holder, async () => lease.confirm());
    expect(result).toBeUndefined();
    expect(names).toEqual([]);
  });

  it('extends a lease too close to its end when confirmed, with one conditional UPDATE', async () => {
    // Any lease is within the margin of its end: the confirm must extend it.
    const a = await process_(20_000, undefined, { confirmMarginMs: 19_990 });
    const lease = await a.claim(['x', 'y'], nothingAccepted);
    const before = await expiresAt('x');
    await new Promise((r) => setTimeout(r, 50));
    const { names } = await statementsDuring(a.holder, async () => lease.confirm());
    expect(names).toEqual(['message-id-claim-renew']);
    expect(await expiresAt('x')).toBeGreaterThan(before);
    expect(await expiresAt('y')).toBeGreaterThan(before);
    expect(await holders()).toEqual({ x: a.holder, y: a.holder });
  });

  it('a holder that stalled past its lease, taken over meanwhile, fails its confirm and learns so from the database', async () => {
    const leaseMs = 600;
    const a = await process_(leaseMs);
    const b = await process_(leaseMs);
    const lease = await a.claim(['x'], nothingAccepted);
    // a stalls: its renewals do not reach the database (a stopped VM, a blocked event loop).
    let stalled = true;
    const original = pg.Pool.prototype.query;
    const queries = vi.spyOn(pg.Pool.prototype, 'query').mockImplementation(function (
      this: pg.Pool,
      ...args: unknown[]
    ) {
      const q = args[0] as { name?: string; values?: unknown[] };
      if (stalled && q.name === 'message-id-claim-renew' && q.values?.includes(a.holder))
        return new Promise(() => {});
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof original);
    try {
      // b waits for the lease to end, takes the id over, publishes and is accepted.
      await b.claim(['x'], nothingAccepted);
      await b.release(['x'], { accepted: true });
      expect(await holders()).toEqual({ x: b.holder });
      stalled = false;
      // a goes on: its clocks say the lease ran out, so it asks the database, which says b's.
      const error = await gatewayErrorOf(lease.confirm());
      expect(error.code).toBe('GW_ERR_MESSAGE_ID_CLAIM_LOST');
      expect(error.status).toBe(503);
      expect(error.headers['retry-after']).toBeDefined();
      // And b's row is untouched by a's attempt.
      expect(await holders()).toEqual({ x: b.holder });
    } finally {
      queries.mockRestore();
    }
  });

  it('a holder whose renewal found its row taken over fails its confirm at once', async () => {
    const leaseMs = 400;
    const a = await process_(leaseMs);
    const lease = await a.claim(['x', 'y'], nothingAccepted);
    // As if a had stalled, the row expired, and another process claimed y (without a's clocks noticing).
    await withPgClient(schema, (c) =>
      c.query(`UPDATE message_id_claim SET holder = 'other:1' WHERE message_id = 'y'`),
    );
    // The next renewal (every quarter of the lease) does not find y a's any more.
    await new Promise((r) => setTimeout(r, leaseMs / 2));
    const { result, names } = await statementsDuring(a.holder, async () => gatewayErrorOf(lease.confirm()));
    expect(result.code).toBe('GW_ERR_MESSAGE_ID_CLAIM_LOST');
    expect(names).toEqual([]);
  });
});
