/** The callback replay scenario with the watermarks (and the audit log) in PostgreSQL (DATABASE_URL). */
import { PgCallbackWatermarkStore } from '../../gateway/callbacks/pg-callback-watermark-store.ts';
import { describeCallbackReplay } from '../e2e/callbacks-replay-scenario.ts';
import { dropSchema, freshSchemaName, PG_URL, withPgClient } from './pg-test-schema.ts';

const schema = freshSchemaName('callback_replay');

describeCallbackReplay('PostgreSQL', {
  kind: 'postgres',
  env: () => ({ DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema }),
  open: () => PgCallbackWatermarkStore.connect({ url: PG_URL, schema }),
  forget: async () => {
    await withPgClient(schema, (client) => client.query('DELETE FROM callback_watermark'));
  },
  cleanup: () => dropSchema(schema),
});
