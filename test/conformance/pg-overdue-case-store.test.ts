/** PgOverdueCaseStore: the OverdueCaseStore conformance suite on the real PostgreSQL, each fixture in its own schema. */
import { PgOverdueCaseStore } from '../../gateway/deadlines/pg-overdue-cases.ts';
import { runOverdueCaseStoreConformance } from './overdue-case-store.conformance.ts';
import { runOverdueReminderConformance } from './overdue-reminder.conformance.ts';
import { dropSchema, freshSchemaName, PG_URL } from './pg-test-schema.ts';

const fixture = async () => {
  const schema = freshSchemaName('cases');
  return {
    store: await PgOverdueCaseStore.connect({ url: PG_URL, schema }),
    another: () => PgOverdueCaseStore.connect({ url: PG_URL, schema }),
    cleanup: () => dropSchema(schema),
  };
};

runOverdueCaseStoreConformance('postgres', fixture);
runOverdueReminderConformance('postgres', fixture);
