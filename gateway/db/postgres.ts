/**
 * PostgreSQL connections for the distributed mode (DATABASE_URL). One pool per store; every
 * connection's search_path is the configured schema, so tests (and tenants) can each live in their
 * own schema of one database. Migrations: ./migrate.ts.
 */
import pg from 'pg';
import { GatewayError } from '../errors/catalogue.ts';

export interface PgConnectionOptions {
  url: string;
  /** Schema for every table (created by the migrations). Default: the server's search_path (public). */
  schema?: string | undefined;
  /** Pool size. Default 4. */
  max?: number;
  applicationName?: string;
}

export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function assertSchemaName(schema: string): void {
  if (!SCHEMA_NAME.test(schema)) {
    throw new GatewayError(
      'GW_ERR_CONFIG_INVALID',
      `database schema ${JSON.stringify(schema)}: lower-case letters, digits and _ only, at most 63`,
    );
  }
}

// int8 (seq, counts) as numbers: every value we store is far below 2^53.
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export function createPgPool(options: PgConnectionOptions): pg.Pool {
  if (options.schema !== undefined) assertSchemaName(options.schema);
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 4,
    application_name: options.applicationName ?? 'laender-gateway',
    types,
    ...(options.schema !== undefined ? { options: `-c search_path=${options.schema}` } : {}),
  });
  // An idle connection that dies (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  return pool;
}

/** Runs `fn` in one transaction on one connection; rolls back on any error. */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  // A checked-out client has no pool listener: when the server goes away (restart, crash) it emits
  // 'error' besides failing the query in flight, and an unhandled 'error' event ends the process.
  const onError = () => {
    broken = true;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch {
      broken = true;
    }
    throw error;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/** SQLSTATEs worth one more try: deadlock, serialization failure. */
export function isRetryable(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === '40P01' || code === '40001';
}

/**
 * A text[] literal, for `$n::text[]` parameters: what pg would send, built without its two regex
 * passes per element (bulk appends serialise hundreds of thousands of elements).
 */
export function textArrayLiteral(values: readonly (string | null)[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const v = values[i];
    if (v === null || v === undefined) out += 'NULL';
    else if (v.indexOf('"') === -1 && v.indexOf('\\') === -1) out += `"${v}"`;
    else out += `"${v.replace(/[\\"]/g, '\\$&')}"`;
  }
  return `${out}}`;
}

/** An int8[]/int4[] literal from safe integers. */
export function intArrayLiteral(values: readonly number[]): string {
  return `{${values.join(',')}}`;
}
