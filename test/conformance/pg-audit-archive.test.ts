/** PgDocumentArchive: the DocumentArchive conformance suite (crypto-shredding included), one schema per fixture. */
import { PgDocumentArchive } from '../../gateway/audit/archive/pg-document-archive.ts';
import { PgAuditStore } from '../../gateway/audit/pg-audit-store.ts';
import { ARCHIVE_PASSPHRASE, runArchiveConformance } from './audit-archive.conformance.ts';
import { dropSchema, freshSchemaName, PG_URL, withPgClient } from './pg-test-schema.ts';

runArchiveConformance('postgres', async () => {
  const schema = freshSchemaName('archive');
  return {
    archive: await PgDocumentArchive.connect({ url: PG_URL, schema, passphrase: ARCHIVE_PASSPHRASE }),
    reopen: (passphrase) => PgDocumentArchive.connect({ url: PG_URL, schema, passphrase }),
    auditStore: () => PgAuditStore.connect({ url: PG_URL, schema }),
    sql: (statement) => withPgClient(schema, async (client) => (await client.query(statement)).rows),
    cleanup: () => dropSchema(schema),
  };
});
