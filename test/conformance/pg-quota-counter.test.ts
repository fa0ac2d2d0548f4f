/**
 * PgQuotaCounter: the QuotaCounter conformance suite on the real PostgreSQL, each fixture in its own
 * schema (a second instance is a second pool, as a second gateway process has); the rows of past
 * days going away; and no connection before the first reservation.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { migrate } from '../../gateway/db/migrate.ts';
import { createPgPool } from '../../gateway/db/postgres.ts';
import { toGatewayError } from '../../gateway/errors/to-gateway-error.ts';
import { PgQuotaCounter } from '../../gateway/quota/pg-quota-counter.ts';
import { dropSchema, freshSchemaName, PG_URL, withPgClient } from './pg-test-schema.ts';
import { runQuotaCounterConformance } from './quota-counter.conformance.ts';

runQuotaCounterConformance('postgres', async (acceptedOnDay) => {
  const schema = freshSchemaName('quota');
  return {
    counter: new PgQuotaCounter({ url: PG_URL, schema, acceptedOnDay }),
    another: async () => new PgQuotaCounter({ url: PG_URL, schema, acceptedOnDay }),
    cleanup: () => dropSchema(schema),
  };
});

describe('PgQuotaCounter rows', () => {
  const schema = freshSchemaName('quota_rows');
  afterAll(() => dropSchema(schema));

  it('are deleted at the first reservation of a new day, except yesterday', async () => {
    const rows = () =>
      withPgClient(schema, async (c) =>
        (await c.query('SELECT system_id, day, used FROM message_quota ORDER BY day, system_id')).rows.map(
          (r) => `${r.system_id}@${r.day}=${r.used}`,
        ),
      );
    const counter = new PgQuotaCounter({ url: PG_URL, schema, acceptedOnDay: async () => 0 });
    try {
      for (const day of ['2026-11-25', '2026-11-26', '2026-11-27']) {
        expect(await counter.reserve('sn-melde', day, 10)).toBe(true);
      }
      // The 26th's first reservation deleted nothing before the 25th; the 27th's deleted the 25th.
      expect(await rows()).toEqual(['sn-melde@2026-11-26=1', 'sn-melde@2026-11-27=1']);
      // Across a month's end, and only once per day: th-melde's first reservation deletes no more.
      expect(await counter.reserve('sn-melde', '2026-12-01', 10)).toBe(true);
      await withPgClient(schema, (c) =>
        c.query(`INSERT INTO message_quota (system_id, day, used) VALUES ('st-melde', '2026-11-29', 4)`),
      );
      expect(await counter.reserve('th-melde', '2026-12-01', 10)).toBe(true);
      expect(await rows()).toEqual([
        'st-melde@2026-11-29=4',
        'sn-melde@2026-12-01=1',
        'th-melde@2026-12-01=1',
      ]);
    } finally {
      await counter.close();
    }
  });
});

describe('PgQuotaCounter connection', () => {
  const DAY = '2026-11-27';
  const schema = freshSchemaName('quota_lazy');
  afterAll(() => dropSchema(schema));

  /** The counter's backends: its own application_name, so that no other suite's count in. */
  const backendsOf = (applicationName: string) =>
    withPgClient(null, async (c) => {
      const result = await c.query(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
        [applicationName],
      );
      return result.rows[0].n as number;
    });

  it('opens nothing until the first reservation, then one pool for the reservations racing for it', async () => {
    const applicationName = `gw-${schema}-a`;
    let asked = 0;
    const counter = new PgQuotaCounter({
      url: PG_URL,
      schema,
      applicationName,
      poolSize: 2,
      acceptedOnDay: async () => {
        asked++;
        return 0;
      },
    });
    try {
      // A gateway whose directory sets no quota never reserves; a release has nothing to give back.
      await counter.release('sn-melde', DAY);
      expect(await backendsOf(applicationName)).toBe(0);

      const results = await Promise.all(Array.from({ length: 8 }, () => counter.reserve('sn-melde', DAY, 5)));
      expect(results.filter(Boolean)).toHaveLength(5);
      expect(asked).toBe(1);
      // One pool of two: a pool per racing reservation would leave up to eight backends.
      const backends = await backendsOf(applicationName);
      expect(backends).toBeGreaterThanOrEqual(1);
      expect(backends).toBeLessThanOrEqual(2);
    } finally {
      await counter.close();
    }
    await expect.poll(() => backendsOf(applicationName)).toBe(0);
    await expect(counter.reserve('sn-melde', DAY, 5)).rejects.toMatchObject({ code: 'GW_ERR_NOT_READY' });
  });

  it('fails the reservations whose connect fails, as a failing query fails them, and connects at the next one', async () => {
    // Nothing listens on port 1: refused, as by a PostgreSQL that is down.
    const unreachable = new PgQuotaCounter({
      url: 'postgres://postgres@127.0.0.1:1/test',
      schema,
      acceptedOnDay: async () => 0,
    });
    const refused = await unreachable.reserve('sn-melde', DAY, 5).catch((error: unknown) => error);
    // What the error handler answers (problem+json, audited) for it: 503, retry later.
    expect(toGatewayError(refused)).toMatchObject({ code: 'GW_ERR_NOT_READY', status: 503 });
    await unreachable.close();

    // Reachable, but its table is missing (no migrations here): the check at connect fails both.
    const unmigrated = freshSchemaName('quota_unmigrated');
    const applicationName = `gw-${unmigrated}`;
    const counter = new PgQuotaCounter({
      url: PG_URL,
      schema: unmigrated,
      migrate: false,
      applicationName,
      acceptedOnDay: async () => 0,
    });
    try {
      const racing = await Promise.allSettled([
        counter.reserve('sn-melde', DAY, 5),
        counter.reserve('sn-melde', DAY, 5),
      ]);
      expect(racing.map((r) => r.status === 'rejected' && (r.reason as { code?: string }).code)).toEqual([
        '42P01',
        '42P01',
      ]);
      // The failed connect ended its pool.
      await expect.poll(() => backendsOf(applicationName)).toBe(0);

      const pool = createPgPool({ url: PG_URL, schema: unmigrated, max: 1 });
      await migrate(pool, { schema: unmigrated }).finally(() => pool.end());
      expect(await counter.reserve('sn-melde', DAY, 5)).toBe(true);
      expect(await backendsOf(applicationName)).toBeGreaterThanOrEqual(1);
    } finally {
      await counter.close();
      await dropSchema(unmigrated);
    }
  });
});
