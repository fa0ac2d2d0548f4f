/**
 * `gw db migrate` — applies deploy/sql/*.sql to DATABASE_URL (schema DATABASE_SCHEMA). The gateway
 * does the same at start; this is for operators who migrate before rolling out new processes.
 */
import { Command } from 'commander';
import { loadConfig } from '../../config/load.ts';
import { migrate } from '../../db/migrate.ts';
import { createPgPool } from '../../db/postgres.ts';
import { GatewayError } from '../../errors/catalogue.ts';

async function migrateCommand(): Promise<void> {
  const config = loadConfig();
  if (!config.databaseUrl) {
    throw new GatewayError(
      'GW_ERR_CONFIG_INVALID',
      'DATABASE_URL is not set: the embedded SQLite needs no migration',
    );
  }
  const pool = createPgPool({ url: config.databaseUrl, schema: config.databaseSchema, max: 1 });
  try {
    const result = await migrate(pool, { schema: config.databaseSchema });
    for (const name of result.applied) process.stdout.write(`applied ${name}\n`);
    process.stdout.write(
      `schema ${result.schema} is at migration ${result.current}${result.applied.length === 0 ? ' (nothing to do)' : ''}\n`,
    );
  } finally {
    await pool.end();
  }
}

export function dbCommand(): Command {
  const db = new Command('db').description('the PostgreSQL database of the distributed mode');
  db.command('migrate')
    .description('apply pending schema migrations (deploy/sql)')
    .action(() => migrateCommand());
  return db;
}
