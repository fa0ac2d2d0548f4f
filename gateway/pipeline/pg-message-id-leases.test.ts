/**
 * The cross-process message id claims against the machine's PostgreSQL: two instances on one schema
 * stand for two gateway processes of one installation.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { dropSchema, freshSchemaName, PG_URL, withPgClient } from '../../test/conformance/pg-test-schema.ts';
import { createLogger } from '../log/logger.ts';
import { PgMessageIdLeases } from './pg-message-id-leases.ts';

const schema = freshSchemaName('idclaims');
const logger = createLogger({ level: 'silent' });
const opened: PgMessageIdLeases[] = [];

async function process_(leaseMs = 20_000): Promise<PgMessageIdLeases> {
  const leases = await PgMessageIdLeases.connect({
    url: PG_URL,
    schema,
    logger,
    leaseMs,
    pollMs: { first: 10, max: 50 },
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
    const b = await process_();
    await a.claim(['x', 'y']);
    const waiting = b.claim(['z', 'y']);
    expect(await pendingAfter(waiting, 200)).toBe(true);
    // While b waits, it holds none of its ids: not even z, which nobody else holds.
    expect(await holders()).toEqual({ x: a.holder, y: a.holder });
    await a.release(['x', 'y']);
    await waiting;
    expect(await holders()).toEqual({ y: b.holder, z: b.holder });
    await b.release(['z', 'y']);
    expect(await holders()).toEqual({});
  });

  it('a claim of a process that died expires: the waiting request goes ahead after the lease', async () => {
    const leaseMs = 800;
    const dead = await process_(leaseMs);
    const b = await process_(leaseMs);
    await dead.claim(['x']);
    const diedAt = Date.now();
    // Dies without releasing: no more renewals, the row stays.
    await dead.close();
    await b.claim(['x']);
    const waited = Date.now() - diedAt;
    expect(waited).toBeGreaterThanOrEqual(leaseMs - 100);
    expect(waited).toBeLessThan(leaseMs + 1_500);
    expect(await holders()).toEqual({ x: b.holder });
  });

  it('a living holder renews its claims beyond the lease', async () => {
    const leaseMs = 400;
    const a = await process_(leaseMs);
    const b = await process_(leaseMs);
    await a.claim(['x']);
    const waiting = b.claim(['x']);
    expect(await pendingAfter(waiting, leaseMs * 3)).toBe(true);
    await a.release(['x']);
    await waiting;
    expect(await holders()).toEqual({ x: b.holder });
  });

  it('does not renew a row whose release did not arrive: it expires while the holder works on', async () => {
    const leaseMs = 400;
    const a = await process_(leaseMs);
    const b = await process_(leaseMs);
    await a.claim(['y']);
    // A row of a's that a failed release left behind (a no longer holds x), while a renews y.
    await withPgClient(schema, (c) =>
      c.query(`INSERT INTO message_id_claim VALUES ('x', $1, now() + make_interval(secs => $2))`, [
        a.holder,
        leaseMs / 1000,
      ]),
    );
    await b.claim(['x']);
    // y, which a does hold, is renewed.
    const waitingForY = b.claim(['y']);
    expect(await pendingAfter(waitingForY, leaseMs * 3)).toBe(true);
    expect(await holders()).toEqual({ x: b.holder, y: a.holder });
    await a.release(['y']);
    await waitingForY;
  });

  it('takes back its own row that a failed release left behind', async () => {
    const a = await process_();
    await a.claim(['x']);
    // As if the release had not reached the database: the row is still a's, the request is done.
    await a.claim(['x']);
    expect(await holders()).toEqual({ x: a.holder });
  });

  it('a new process clears expired claims of dead ones when it connects', async () => {
    const dead = await process_(200);
    await dead.claim(['x', 'y']);
    await dead.close();
    await new Promise((r) => setTimeout(r, 400));
    await process_();
    expect(await holders()).toEqual({});
  });
});
