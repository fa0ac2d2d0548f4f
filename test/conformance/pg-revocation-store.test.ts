/** PgRevocationStore: the RevocationStore conformance suite on the real PostgreSQL, each fixture in its own schema. */
import { PgRevocationStore } from '../../gateway/pki/pg-revocation-store.ts';
import { dropSchema, freshSchemaName, PG_URL } from './pg-test-schema.ts';
import { runRevocationStoreConformance } from './revocation-store.conformance.ts';

runRevocationStoreConformance('postgres', async () => {
  const schema = freshSchemaName('revocations');
  return {
    store: await PgRevocationStore.connect({ url: PG_URL, schema }),
    another: () => PgRevocationStore.connect({ url: PG_URL, schema }),
    cleanup: () => dropSchema(schema),
  };
});
