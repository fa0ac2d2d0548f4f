/**
 * In-process A/B of the bearer-token check (gateway/auth/tokens.ts and its stores), an earlier tree
 * against this one: per check of a valid token, this process's CPU and the wall time, on SQLite
 * (the earlier tree's synchronous TokenStore against this tree's SqliteTokenStore, each on its own
 * auth.sqlite holding the same number of tokens) — and, for this tree's PostgreSQL store (one
 * prepared primary-key lookup per check), the same at 1 and at 16 checks in flight. The database
 * server's own CPU is not in these numbers. Needs the machine's PostgreSQL (TEST_DATABASE_URL
 * overrides); uses a fresh schema and drops it.
 *
 *   git archive <rev> gateway adapters standards test | tar -x -C DIR && ln -s "$PWD/node_modules" DIR/node_modules
 *   node --import tsx test/bench/token-check-ab.ts --baseline DIR [--rounds 7] [--checks 20000] [--tokens 1000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { PgTokenStore } from '../../gateway/auth/pg-token-store.ts';
import { SqliteTokenStore } from '../../gateway/auth/sqlite-token-store.ts';
import type { IssueTokenInput } from '../../gateway/ports/token-store.ts';
import { dropSchema, freshSchemaName, PG_URL } from '../conformance/pg-test-schema.ts';
import { alternatingRounds, cpuMicros, median } from './support/alternating-rounds.ts';

const { values: args } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '7' },
    checks: { type: 'string', default: '20000' },
    tokens: { type: 'string', default: '1000' },
  },
});
if (!args.baseline) throw new Error('--baseline DIR (an earlier tree with node_modules linked) is required');
const CHECKS = Number(args.checks);
const TOKENS = Number(args.tokens);

/** The earlier tree's store: synchronous. */
interface BaselineTokens {
  issue(input: IssueTokenInput): { token: string };
  authenticate(token: string): { id: string };
  close(): void;
}
const baselineModule = (await import(
  pathToFileURL(path.join(path.resolve(args.baseline), 'gateway/auth/tokens.ts')).href
)) as { TokenStore: new (file: string) => BaselineTokens };

const work = mkdtempSync(path.join(tmpdir(), 'gw-token-bench-'));
const schema = freshSchemaName('tokenab');
const input = (i: number): IssueTokenInput => ({
  role: i % 2 ? 'auditor' : 'operator',
  scope: i % 2 ? 'land:SN' : '*',
  name: `holder ${i}`,
  lifetimeMs: 3_600_000,
  createdBy: 'bench',
});

const oldStore = new baselineModule.TokenStore(path.join(work, 'old', 'auth.sqlite'));
const sqlite = new SqliteTokenStore(path.join(work, 'new', 'auth.sqlite'));
const pgStore = await PgTokenStore.connect({ url: PG_URL, schema });
const oldTokens: string[] = [];
const sqliteTokens: string[] = [];
const pgTokens: string[] = [];
for (let i = 0; i < TOKENS; i++) {
  oldTokens.push(oldStore.issue(input(i)).token);
  sqliteTokens.push((await sqlite.issue(input(i))).token);
  pgTokens.push((await pgStore.issue(input(i))).token);
}

type Check = (i: number) => Promise<unknown> | unknown;
/** As the route hook calls it: awaited, whether the store answers synchronously or not. */
async function measure(check: Check, inFlight: number): Promise<{ cpu: number; wall: number }> {
  let next = 0;
  const cpu0 = cpuMicros();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < CHECKS) await check(next++);
    }),
  );
  return { wall: ((performance.now() - t0) * 1000) / CHECKS, cpu: (cpuMicros() - cpu0) / CHECKS };
}

const oldCheck: Check = (i) => oldStore.authenticate(oldTokens[i % TOKENS]!);
const newCheck: Check = (i) => sqlite.authenticate(sqliteTokens[i % TOKENS]!);
const pgCheck: Check = (i) => pgStore.authenticate(pgTokens[i % TOKENS]!);

try {
  await alternatingRounds(
    'token check (SQLite)',
    oldCheck,
    newCheck,
    async (check) => {
      const r = await measure(check, 1);
      return { cpuUs: r.cpu, wallUs: r.wall };
    },
    { rounds: Number(args.rounds), cpuDigits: 2 },
  );
  const pg: Record<string, number>[] = [];
  for (let round = 0; round <= Number(args.rounds); round++) {
    const one = await measure(pgCheck, 1);
    const sixteen = await measure(pgCheck, 16);
    if (round === 0) continue; // warm-up
    pg.push({ cpu1Us: one.cpu, wall1Us: one.wall, cpu16Us: sixteen.cpu, wall16Us: sixteen.wall });
    console.log(`token check (PostgreSQL) round ${round}:`, JSON.stringify(pg.at(-1)));
  }
  console.log(`\ntoken check (PostgreSQL, this tree): medians over ${args.rounds} rounds`);
  for (const k of Object.keys(pg[0]!))
    console.log(
      `  ${k.padEnd(20)} ${median(pg.map((r) => r[k]!))
        .toFixed(3)
        .padStart(9)}`,
    );
} finally {
  oldStore.close();
  await sqlite.close();
  await pgStore.close();
  await dropSchema(schema);
  rmSync(work, { recursive: true, force: true });
}
