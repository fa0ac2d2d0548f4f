/** PgTokenStore: the TokenStore conformance suite on the real PostgreSQL, each fixture in its own schema. */
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
