/**
 * Schema migrations for PostgreSQL: the numbered files deploy/sql/NNN_name.sql, applied in order,
 * each in its own transaction together with its row in schema_migrations. Idempotent (applied
 * files are skipped) and safe when N processes start at once: an advisory lock per schema lets one
 * migrate while the others wait. An applied file whose text changed is refused: released
 * migrations are never edited, a new file is added instead.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { REPO_ROOT } from '../config/load.ts';
import { GatewayError } from '../errors/catalogue.ts';
import { assertSchemaName, createPgPool, type PgConnectionOptions } from './postgres.ts';

export const MIGRATIONS_DIR = path.join(REPO_ROOT, 'deploy/sql');
const FILE = /^(\d{3})_[a-z0-9_]+\.sql$/;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const migrations = readdirSync(dir)
    .filter((f) => FILE.test(f))
    .sort()
    .map((name) => {
      const sql = readFileSync(path.join(dir, name), 'utf8');
      return {
        version: Number(FILE.exec(name)![1]),
        name,
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
      };
    });
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migrations: ${m.name} should be number ${i + 1}`);
  });
  return migrations;
}

export interface MigrationResult {
  schema: string;
  applied: string[];
  current: number;
}

/** Applies the pending migrations to `schema` (created if missing). */
export async function migrate(
  pool: pg.Pool,
  options: { schema?: string | undefined; dir?: string } = {},
): Promise<MigrationResult> {
  const migrations = readMigrations(options.dir);
  const client = await pool.connect();
  let broken = false;
  // A checked-out client has no pool listener: when the server goes away mid-migration (crash,
  // restart, a terminated backend) it emits 'error' besides failing the query in flight, and an
  // unhandled 'error' event would end the process instead of failing this call.
  const onError = () => {
    broken = true;
  };
  client.on('error', onError);
  try {
    const schema =
      options.schema ?? ((await client.query('SELECT current_schema() AS s')).rows[0].s as string | null);
    if (!schema) throw new GatewayError('GW_ERR_CONFIG_INVALID', 'database: no schema on the search_path');
    assertSchemaName(schema);
    // Advisory locks are database-wide: the key names the schema, so schemas migrate independently.
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`laender-gateway:migrate:${schema}`]);
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await client.query(`SET search_path TO ${schema}`);
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now())`);
      const done = new Map(
        (await client.query('SELECT version, name, checksum FROM schema_migrations')).rows.map((r) => [
          r.version as number,
          r as { name: string; checksum: string },
        ]),
      );
      const applied: string[] = [];
      for (const m of migrations) {
        const previous = done.get(m.version);
        if (previous) {
          if (previous.checksum !== m.checksum) {
            throw new GatewayError(
              'GW_ERR_CONFIG_INVALID',
              `migration ${m.name} was changed after it was applied to schema ${schema} (as ${previous.name})`,
            );
          }
          continue;
        }
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
            m.version,
            m.name,
            m.checksum,
          ]);
          await client.query('COMMIT');
        } catch (error) {
          // On a dead connection ROLLBACK fails too; the server rolled back already, and the cause counts.
          await client.query('ROLLBACK').catch(() => {
            broken = true;
          });
          throw error;
        }
        applied.push(m.name);
      }
      const newest = Math.max(0, ...done.keys());
      if (newest > migrations.length) {
        throw new GatewayError(
          'GW_ERR_CONFIG_INVALID',
          `schema ${schema} is at migration ${newest}; this gateway knows ${migrations.length}`,
        );
      }
      return { schema, applied, current: migrations.length };
    } finally {
      // A lost connection took its session's advisory lock with it; unlocking it would only hide the cause.
      if (!broken) {
        await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`laender-gateway:migrate:${schema}`]);
        await client.query('RESET search_path');
      }
    }
  } catch (error) {
    broken = true;
    throw error;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/**
 * A PostgreSQL store's pool, ready for use: the migrations applied, or with `migrate: false` (an
 * operator who migrates separately, `gw db migrate`) its table known to exist. A pool that does not
 * get ready is ended rather than leaked.
 */
export async function openStorePool(
  options: PgConnectionOptions & { migrate?: boolean | undefined; table: string },
): Promise<pg.Pool> {
  const pool = createPgPool(options);
  try {
    if (options.migrate !== false) await migrate(pool, { schema: options.schema });
    else await pool.query(`SELECT 1 FROM ${options.table} LIMIT 0`);
  } catch (error) {
    await pool.end();
    throw error;
  }
  return pool;
}
