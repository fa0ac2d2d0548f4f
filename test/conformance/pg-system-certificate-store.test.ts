/** PgSystemCertificateStore: the SystemCertificateStore conformance suite on the real PostgreSQL, each fixture in its own schema. */
import { PgSystemCertificateStore } from '../../gateway/pki/pg-system-certificate-store.ts';
import { dropSchema, freshSchemaName, PG_URL } from './pg-test-schema.ts';
import { runSystemCertificateStoreConformance } from './system-certificate-store.conformance.ts';

runSystemCertificateStoreConformance('postgres', async () => {
  const schema = freshSchemaName('system_certificates');
  return {
    store: await PgSystemCertificateStore.connect({ url: PG_URL, schema }),
    another: () => PgSystemCertificateStore.connect({ url: PG_URL, schema }),
    cleanup: () => dropSchema(schema),
  };
});
