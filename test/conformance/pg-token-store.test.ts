/**
 * PgTokenStore: the TokenStore conformance suite on the real PostgreSQL, each fixture in its own
 * schema; and the table's own constraints on the scraper role (migration 015).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { PgTokenStore } from '../../gateway/auth/pg-token-store.ts';
import { dropSchema, freshSchemaName, PG_URL, withPgClient } from './pg-test-schema.ts';
import { runTokenStoreConformance } from './token-store.conformance.ts';

runTokenStoreConformance('postgres', async () => {
  const schema = freshSchemaName('tokens');
  const others: string[] = [];
  return {
    store: await PgTokenStore.connect({ url: PG_URL, schema }),
    another: () => PgTokenStore.connect({ url: PG_URL, schema }),
    fresh: () => {
      const other = freshSchemaName('tokens_import');
      others.push(other);
      return PgTokenStore.connect({ url: PG_URL, schema: other });
    },
    storedText: () =>
      withPgClient(schema, async (c) =>
        (await c.query('SELECT t::text AS row FROM auth_token t')).rows
          .map((r) => r.row as string)
          .join('\n'),
      ),
    cleanup: async () => {
      for (const s of [schema, ...others]) await dropSchema(s);
    },
  };
});

describe('auth_token in PostgreSQL after migration 015', () => {
  const schema = freshSchemaName('tokens_scraper');
  afterAll(() => dropSchema(schema));

  it('takes a scraper token of scope * without permissions, and refuses any wider one written by SQL', async () => {
    const store = await PgTokenStore.connect({ url: PG_URL, schema });
    try {
      const { token } = await store.issue({
        role: 'scraper',
        scope: '*',
        lifetimeMs: 60_000,
        createdBy: 'cli',
      });
      expect((await store.authenticate(token)).role).toBe('scraper');
    } finally {
      await store.close();
    }
    const insert = (id: string, role: string, scope: string, permissions: string) =>
      withPgClient(schema, (c) =>
        c.query(
          `INSERT INTO auth_token (id, secret_hash, role, scope, name, created_at, created_by, expires_at, permissions)
           VALUES ($1, decode(repeat('00', 32), 'hex'), $2, $3, '', '2026-01-01T00:00:00.000Z', 'sql',
                   '2099-01-01T00:00:00.000Z', $4::text[])`,
          [id, role, scope, permissions],
        ),
      ).then(
        () => 'stored',
        (error: { code?: string; constraint?: string }) => `${error.code} ${error.constraint}`,
      );
    expect(await insert('aaaaaaaaaaaa', 'scraper', 'land:SN', '{}')).toBe('23514 auth_token_scraper_shape');
    expect(await insert('bbbbbbbbbbbb', 'scraper', '*', '{audit-payload}')).toBe(
      '23514 auth_token_scraper_shape',
    );
    expect(await insert('cccccccccccc', 'system', '*', '{}')).toBe('23514 auth_token_role_check');
    expect(await insert('dddddddddddd', 'operator', 'land:SN', '{audit-payload}')).toBe('stored');
  });
});
