/** PgCallbackWatermarkStore: the CallbackWatermarkStore conformance suite on the real PostgreSQL, each fixture in its own schema. */
import { PgCallbackWatermarkStore } from '../../gateway/callbacks/pg-callback-watermark-store.ts';
import { runCallbackWatermarkStoreConformance } from './callback-watermark-store.conformance.ts';
import { dropSchema, freshSchemaName, PG_URL } from './pg-test-schema.ts';

runCallbackWatermarkStoreConformance('postgres', async () => {
  const schema = freshSchemaName('callback_marks');
  return {
    store: await PgCallbackWatermarkStore.connect({ url: PG_URL, schema }),
    another: () => PgCallbackWatermarkStore.connect({ url: PG_URL, schema }),
    cleanup: () => dropSchema(schema),
  };
});
