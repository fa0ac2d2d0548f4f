/** PgMailboxStore: the MailboxStore conformance suite on the real PostgreSQL, each fixture in its own schema. */
import { PgMailboxStore } from '../../gateway/mailbox/pg-mailbox-store.ts';
import { runMailboxStoreConformance } from './mailbox-store.conformance.ts';
import { dropSchema, freshSchemaName, PG_URL } from './pg-test-schema.ts';

runMailboxStoreConformance('postgres', async () => {
  const schema = freshSchemaName('mailbox');
  return {
    store: await PgMailboxStore.connect({ url: PG_URL, schema }),
    another: () => PgMailboxStore.connect({ url: PG_URL, schema }),
    cleanup: () => dropSchema(schema),
  };
});
