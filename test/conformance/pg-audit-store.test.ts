/**
 * PgAuditStore: the AuditStore conformance suite on the real PostgreSQL, each fixture in its own schema.
 */
import { PgAuditStore } from '../../gateway/audit/pg-audit-store.ts';
import { runAuditStoreConformance } from './audit-store.conformance.ts';
import { dropSchema, freshSchemaName, PG_URL } from './pg-test-schema.ts';

runAuditStoreConformance('postgres', async () => {
  const schema = freshSchemaName('audit');
  return {
    store: await PgAuditStore.connect({ url: PG_URL, schema }),
    reopen: () => PgAuditStore.connect({ url: PG_URL, schema }),
    cleanup: () => dropSchema(schema),
  };
});
