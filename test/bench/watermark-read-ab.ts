/**
 * In-process A/B of the mark read a gap replay makes (chain-takeovers.ts → CallbackWatermarks.storedMark)
 * against an earlier tree: with many chains stored, the earlier tree read every chain's mark to use
 * one. Both trees' CallbackWatermarks run over the same store instances (this tree's; read() is
 * unchanged), SQLite (a file) and PostgreSQL (127.0.0.1:5432, a schema of its own, dropped after),
 * `--chains` partition chains stored. Counted per read: statements sent to the store and rows they
 * returned; timed: this process's CPU (process.cpuUsage: for PostgreSQL the client's side only) and
 * wall time. The rest of a gap replay (one audit query per callback kind) is the same in both.
 *
 *   git archive <rev> gateway adapters standards | tar -x -C DIR && ln -s "$PWD/node_modules" DIR/node_modules
 *   node --import tsx test/bench/watermark-read-ab.ts --baseline DIR [--rounds 7] [--reads 2000] [--chains 200]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { CallbackWatermarkStore } from '../../gateway/callbacks/callback-watermark-store.ts';
import type * as CallbackWatermarksModule from '../../gateway/callbacks/callback-watermarks.ts';
import { PgCallbackWatermarkStore } from '../../gateway/callbacks/pg-callback-watermark-store.ts';
import { SqliteCallbackWatermarkStore } from '../../gateway/callbacks/sqlite-callback-watermark-store.ts';
import { createLogger } from '../../gateway/log/logger.ts';
import { alternatingRounds, cpuMicros } from './support/alternating-rounds.ts';

const { values: args } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '7' },
    reads: { type: 'string', default: '2000' },
    chains: { type: 'string', default: '200' },
  },
});
if (!args.baseline) throw new Error('--baseline DIR (an earlier tree with node_modules linked) is required');
const ROUNDS = Number(args.rounds);
const READS = Number(args.reads);
const CHAINS = Number(args.chains);
const REPO = path.resolve(import.meta.dirname, '../..');
const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

type Tree = typeof CallbackWatermarksModule;
const load = async (root: string): Promise<Tree> =>
  (await import(pathToFileURL(path.join(root, 'gateway/callbacks/callback-watermarks.ts')).href)) as Tree;

const systems = ['st-melde', 'st-melde-test', 'sn-kfz', 'by-elterngeld'];
const chains: string[] = [];
for (let p = 0; chains.length < CHAINS; p++)
  for (const system of systems) chains.push(`delivery.${system}.${p}`, `delivery.${system}.${p}.retry`);
chains.length = CHAINS;
const marks = new Map(chains.map((chain, i) => [chain, 1000 + i]));

/** Statements sent and rows returned, counted on the store's own handles. */
const counted = { statements: 0, rows: 0 };
function countSqlite(store: SqliteCallbackWatermarkStore): void {
  for (const name of ['all', 'one']) {
    const statement = (store as unknown as Record<string, { all: (...a: unknown[]) => unknown[] }>)[name];
    if (!statement) continue;
    const all = statement.all.bind(statement);
    statement.all = (...a: unknown[]) => {
      const rows = all(...a);
      counted.statements++;
      counted.rows += rows.length;
      return rows;
    };
  }
}
function countPg(store: PgCallbackWatermarkStore): void {
  const pool = (store as unknown as { pool: pg.Pool }).pool;
  const query = pool.query.bind(pool) as (...a: unknown[]) => Promise<pg.QueryResult>;
  (pool as unknown as { query: unknown }).query = async (...a: unknown[]) => {
    const result = await query(...a);
    counted.statements++;
    counted.rows += result.rows.length;
    return result;
  };
}

const dir = mkdtempSync(path.join(tmpdir(), 'gw-watermark-read-ab-'));
const schema = `gwb_marks_${process.pid}`;
const sqlite = new SqliteCallbackWatermarkStore(path.join(dir, 'callbacks.sqlite'));
const postgres = await PgCallbackWatermarkStore.connect({ url: PG_URL, schema });
const logger = createLogger({ level: 'silent' });
try {
  for (const store of [sqlite, postgres]) await store.advance(marks);
  countSqlite(sqlite);
  countPg(postgres);
  const old = await load(path.resolve(args.baseline));
  const current = await load(REPO);
  // The order of the chains read: fixed, so both trees read the same ones.
  const order = Array.from({ length: READS }, (_, i) => chains[(i * 7919) % chains.length]!);

  for (const store of [sqlite, postgres] as CallbackWatermarkStore[]) {
    const of = (tree: Tree) => new tree.CallbackWatermarks({ store, logger });
    for (const chain of [...chains, 'delivery.unknown.0']) {
      const [a, b] = [await of(old).storedMark(chain), await of(current).storedMark(chain)];
      if (a !== b || a !== (marks.get(chain) ?? 0))
        throw new Error(`${store.kind}: marks differ for ${chain}`);
    }
    const run = async (tree: Tree): Promise<Record<string, number>> => {
      const watermarks = of(tree);
      counted.statements = counted.rows = 0;
      const wall = performance.now();
      const cpu = cpuMicros();
      for (const chain of order) await watermarks.storedMark(chain);
      return {
        cpuUsPerRead: (cpuMicros() - cpu) / READS,
        wallUsPerRead: ((performance.now() - wall) * 1000) / READS,
        statementsPerRead: counted.statements / READS,
        rowsPerRead: counted.rows / READS,
      };
    };
    await alternatingRounds(`storedMark, ${store.kind}, ${CHAINS} chains`, old, current, run, {
      rounds: ROUNDS,
      cpuDigits: 2,
    });
  }
} finally {
  await sqlite.close();
  await postgres.close();
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
  rmSync(dir, { recursive: true, force: true });
}
