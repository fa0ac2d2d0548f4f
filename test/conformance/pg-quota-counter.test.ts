/**
 * PgQuotaCounter: the QuotaCounter conformance suite on the real PostgreSQL, each fixture in its own
 * schema (a second instance is a second pool, as a second gateway process has); and the rows of
 * past days going away.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { PgQuotaCounter } from '../../gateway/quota/pg-quota-counter.ts';
import { dropSchema, freshSchemaName, PG_URL, withPgClient } from './pg-test-schema.ts';
import { runQuotaCounterConformance } from './quota-counter.conformance.ts';

runQuotaCounterConformance('postgres', async (acceptedOnDay) => {
  const schema = freshSchemaName('quota');
  return {
    counter: await PgQuotaCounter.connect({ url: PG_URL, schema, acceptedOnDay }),
    another: () => PgQuotaCounter.connect({ url: PG_URL, schema, acceptedOnDay }),
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
    const counter = await PgQuotaCounter.connect({ url: PG_URL, schema, acceptedOnDay: async () => 0 });
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
