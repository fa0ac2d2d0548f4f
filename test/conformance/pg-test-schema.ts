/**
 * PostgreSQL for tests: the machine's server at 127.0.0.1:5432 (TEST_DATABASE_URL overrides), one
 * fresh schema per store fixture so parallel runs and suites never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function freshSchemaName(prefix: string): string {
  return `gwt_${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** Runs SQL outside any store (to tamper, to inspect, to drop). */
export async function withPgClient<T>(
  schema: string | null,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({
    connectionString: PG_URL,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function dropSchema(schema: string): Promise<void> {
  await withPgClient(null, (client) => client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
}
