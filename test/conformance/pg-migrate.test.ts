/**
 * Schema migrations (deploy/sql, gateway/db/migrate.ts): applied once per schema, safe when several
 * processes start together, refused when a released migration was edited or the schema is newer.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, migrate, readMigrations } from '../../gateway/db/migrate.ts';
import { createPgPool } from '../../gateway/db/postgres.ts';
import { dropSchema, freshSchemaName, PG_URL, withPgClient } from './pg-test-schema.ts';

const schemas: string[] = [];
const dirs: string[] = [];
const schema = () => {
  const s = freshSchemaName('migrate');
  schemas.push(s);
  return s;
};
afterAll(async () => {
  for (const s of schemas) await dropSchema(s);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The released migrations, in order: written out, so that a renamed or dropped one fails here. */
const RELEASED = [
  '001_audit.sql',
  '002_mailbox.sql',
  '003_archive.sql',
  '004_audit_projection.sql',
  '005_case_order.sql',
  '006_inbox_lease.sql',
  '007_answer_cases.sql',
  '008_message_quota.sql',
  '009_callback_watermark.sql',
  '010_answer_case_reminder_claim.sql',
  '011_audit_message_replay_generation.sql',
  '012_message_id_claim.sql',
  '013_tokens.sql',
  '014_pki_revocations.sql',
  '015_scraper_tokens.sql',
  '016_pki_system_certificates.sql',
  '017_inbox_ack_audited.sql',
];
const RELEASED_VERSIONS = RELEASED.map((_, i) => i + 1);
/** The number a migration written after the released ones takes. */
const UNRELEASED = String(RELEASED.length + 1).padStart(3, '0');

/** A copy of the released migrations that a test may edit. */
function migrationsCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gw-migrations-'));
  dirs.push(dir);
  cpSync(MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

/** The versions recorded in `inSchema`, and whether `table` exists there (a half-applied step). */
const stateOf = (inSchema: string, table: string) =>
  withPgClient(inSchema, async (c) => ({
    versions: (await c.query('SELECT version FROM schema_migrations ORDER BY 1')).rows.map(
      (r) => r.version as number,
    ),
    table: (await c.query('SELECT to_regclass($1) AS t', [table])).rows[0].t,
  }));

describe('PostgreSQL migrations', () => {
  it('are numbered without gaps', () => {
    const migrations = readMigrations();
    expect(migrations.map((m) => m.version)).toEqual(migrations.map((_, i) => i + 1));
    expect(migrations.map((m) => m.name)).toEqual(RELEASED);
  });

  it('apply once into their own schema; a second run does nothing', async () => {
    const s = schema();
    const pool = createPgPool({ url: PG_URL, schema: s, max: 1 });
    try {
      expect(await migrate(pool, { schema: s })).toEqual({
        schema: s,
        applied: RELEASED,
        current: RELEASED.length,
      });
      expect(await migrate(pool, { schema: s })).toEqual({
        schema: s,
        applied: [],
        current: RELEASED.length,
      });
      const tables = await withPgClient(null, async (c) =>
        (
          await c.query(
            'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1',
            [s],
          )
        ).rows.map((r) => r.table_name as string),
      );
      expect(tables).toEqual([
        'answer_case',
        'archive_documents',
        'archive_keys',
        'archive_meta',
        'audit_chains',
        'audit_checkpoint_heads',
        'audit_checkpoints',
        'audit_entries',
        'audit_messages',
        'audit_projection',
        'auth_token',
        'callback_watermark',
        'case_answer',
        'mailbox_case_tickets',
        'mailbox_delivered',
        'mailbox_inbox',
        'message_id_claim',
        'message_quota',
        'pki_revocation',
        'pki_system_certificate',
        'schema_migrations',
      ]);
      // Nothing leaked into public.
      const inPublic = await withPgClient(
        null,
        async (c) =>
          (
            await c.query(
              `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'audit_entries'`,
            )
          ).rows[0].n,
      );
      expect(inPublic).toBe(0);
    } finally {
      await pool.end();
    }
  });

  it('run by five processes at once: one applies, the others wait and find everything done', async () => {
    const s = schema();
    const pools = Array.from({ length: 5 }, () => createPgPool({ url: PG_URL, schema: s, max: 1 }));
    try {
      const results = await Promise.all(pools.map((pool) => migrate(pool, { schema: s })));
      expect(results.map((r) => r.applied.length).sort()).toEqual([0, 0, 0, 0, RELEASED.length]);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('refuse an edited released migration, and a schema newer than this gateway', async () => {
    const s = schema();
    const dir = migrationsCopy();
    const pool = createPgPool({ url: PG_URL, schema: s, max: 1 });
    try {
      await migrate(pool, { schema: s, dir });
      writeFileSync(join(dir, '002_mailbox.sql'), '-- edited\nSELECT 1;\n');
      await expect(migrate(pool, { schema: s, dir })).rejects.toMatchObject({
        code: 'GW_ERR_CONFIG_INVALID',
        message: expect.stringMatching(/002_mailbox.sql was changed/),
      });
      await withPgClient(s, (c) =>
        c.query(`INSERT INTO schema_migrations (version, name, checksum) VALUES (99, '099_future.sql', 'x')`),
      );
      await expect(migrate(pool, { schema: s })).rejects.toMatchObject({
        message: expect.stringMatching(/at migration 99/),
      });
      // A failing migration leaves nothing half-applied.
      const t = schema();
      writeFileSync(
        join(dir, `${UNRELEASED}_broken.sql`),
        'CREATE TABLE half_done (x int);\nSELECT * FROM no_such_table;\n',
      );
      cpSync(join(MIGRATIONS_DIR, '002_mailbox.sql'), join(dir, '002_mailbox.sql'));
      const fresh = createPgPool({ url: PG_URL, schema: t, max: 1 });
      try {
        await expect(migrate(fresh, { schema: t, dir })).rejects.toThrow(/no_such_table/);
        expect(await stateOf(t, 'half_done')).toEqual({ versions: RELEASED_VERSIONS, table: null });
      } finally {
        await fresh.end();
      }
    } finally {
      await pool.end();
    }
  });

  it('a backend terminated during a migration fails the call, not the process, and the next run completes', async () => {
    const s = schema();
    const dir = migrationsCopy();
    // A slow step: long enough for another connection to find the backend and terminate it.
    writeFileSync(
      join(dir, `${UNRELEASED}_slow.sql`),
      'CREATE TABLE slow_done (x int);\nSELECT pg_sleep(30);\n',
    );
    const pool = createPgPool({ url: PG_URL, schema: s, max: 1, applicationName: `gw-migrate-${s}` });
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      // Its outcome is taken at once: a rejection must not wait unhandled while the backend is hunted.
      const outcome = migrate(pool, { schema: s, dir }).then(
        () => undefined,
        (error: unknown) => error,
      );
      const terminated = await withPgClient(null, async (c) => {
        for (let i = 0; i < 200; i++) {
          const hit = await c.query(
            `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity
             WHERE application_name = $1 AND query LIKE '%pg_sleep(30)%'`,
            [`gw-migrate-${s}`],
          );
          if (hit.rowCount) return true;
          await new Promise((r) => setTimeout(r, 50));
        }
        return false;
      });
      expect(terminated).toBe(true);
      expect(await outcome).toMatchObject({ code: '57P01', message: expect.stringMatching(/terminat/) });
      // Let the socket's 'error' and 'end' events fire: an unlistened 'error' would surface here.
      await new Promise((r) => setTimeout(r, 200));
      expect(uncaught).toEqual([]);
      expect(await stateOf(s, 'slow_done')).toEqual({ versions: RELEASED_VERSIONS, table: null });
      // The broken connection was dropped, the advisory lock went with it: the next run applies the unreleased one.
      writeFileSync(join(dir, `${UNRELEASED}_slow.sql`), 'CREATE TABLE slow_done (x int);\n');
      expect(await migrate(pool, { schema: s, dir })).toMatchObject({
        applied: [`${UNRELEASED}_slow.sql`],
        current: RELEASED.length + 1,
      });
    } finally {
      process.off('uncaughtException', onUncaught);
      await pool.end();
    }
  });

  it('refuse a schema name that is not a plain identifier', () => {
    expect(() => createPgPool({ url: PG_URL, schema: 'x; DROP TABLE y' })).toThrow(
      expect.objectContaining({ code: 'GW_ERR_CONFIG_INVALID' }),
    );
  });
});
