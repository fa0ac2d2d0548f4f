/**
 * In-process A/B of the ingress's replay check with PostgreSQL, an earlier tree against this one:
 * the in-process claim, the cross-process lease in PostgreSQL, the trail asked, (this tree) the
 * fencing confirm before the publish, then the lease given up as an accepted request gives it up
 * (left to expire) — and, for reference, the trail asked alone. Per
 * request: this thread's CPU and the wall time until the request could go on to sealing, at 1 and
 * at 16 requests in flight. Needs the machine's PostgreSQL (TEST_DATABASE_URL overrides); uses a
 * fresh schema and drops it.
 *
 *   git archive <rev> gateway adapters standards test | tar -x -C DIR && ln -s "$PWD/node_modules" DIR/node_modules
 *   node --import tsx test/bench/message-id-claims-ab.ts --baseline DIR [--rounds 7] [--requests 2000]
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { PgAuditStore } from '../../gateway/audit/pg-audit-store.ts';
import { createLogger } from '../../gateway/log/logger.ts';
import { MessageIdClaims } from '../../gateway/pipeline/message-id-claims.ts';
import { PgMessageIdLeases } from '../../gateway/pipeline/pg-message-id-leases.ts';
import { dropSchema, freshSchemaName, PG_URL } from '../conformance/pg-test-schema.ts';
import { alternatingRounds, cpuMicros, median } from './support/alternating-rounds.ts';

const { values: args } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '7' },
    requests: { type: 'string', default: '2000' },
  },
});
if (!args.baseline) throw new Error('--baseline DIR (an earlier tree with node_modules linked) is required');
const REQUESTS = Number(args.requests);
const schema = freshSchemaName('claimsab');
const logger = createLogger({ level: 'silent' });
const store = await PgAuditStore.connect({ url: PG_URL, schema });

/**
 * The earlier tree's leases: claim(ids, refuseAccepted), nothing to confirm; release(ids, outcome)
 * (trees before the accepted claims were left to expire take no outcome, and delete).
 */
interface BaselineLeases {
  claim(ids: readonly string[], refuseAccepted: () => Promise<void>): Promise<unknown>;
  release(ids: readonly string[], outcome: { accepted: boolean }): Promise<void>;
  close(): Promise<void>;
}
const baselineModule = (await import(
  pathToFileURL(path.join(path.resolve(args.baseline), 'gateway/pipeline/pg-message-id-leases.ts')).href
)) as { PgMessageIdLeases: { connect(o: object): Promise<BaselineLeases> } };
const leases = await PgMessageIdLeases.connect({ url: PG_URL, schema, logger });
// On the table this tree's migrations made (an archive of gateway/ alone has no deploy/sql).
const baselineLeases = await baselineModule.PgMessageIdLeases.connect({
  url: PG_URL,
  schema,
  logger,
  migrate: false,
});
const claims = new MessageIdClaims();

type Check = (id: string) => Promise<void>;
const refuseAccepted = (id: string) => async () => {
  if (await store.hasEvent(id, 'accepted')) throw new Error('replay');
};
const storeAlone: Check = (id) => refuseAccepted(id)();
const old: Check = async (id) => {
  const local = claims.claim([id]);
  if (!local.claimed) throw new Error('held');
  await baselineLeases.claim([id], refuseAccepted(id));
  await refuseAccepted(id)();
  void baselineLeases.release([id], { accepted: true }).finally(() => local.release());
};
const current: Check = async (id) => {
  const local = claims.claim([id]);
  if (!local.claimed) throw new Error('held');
  const lease = await leases.claim([id], refuseAccepted(id), { waitUntil: performance.now() + 5_000 });
  await refuseAccepted(id)();
  // The fencing check right before the publish, as the ingress makes it (a fresh lease: no round trip).
  await local.confirm();
  await lease.confirm();
  void leases.release([id], { accepted: true }).finally(() => local.release());
};

async function run(check: Check): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const inFlight of [1, 16]) {
    const ids = Array.from({ length: REQUESTS }, () => randomUUID());
    let next = 0;
    const cpu0 = cpuMicros();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < ids.length) await check(ids[next++]!);
      }),
    );
    out[`wall${inFlight}Us`] = ((performance.now() - t0) * 1000) / REQUESTS;
    out[`cpu${inFlight}Us`] = (cpuMicros() - cpu0) / REQUESTS;
    // The releases still in flight finish before the next measurement.
    await new Promise((r) => setTimeout(r, 50));
  }
  return out;
}

try {
  await alternatingRounds('replay check (PostgreSQL)', old, current, run, { rounds: Number(args.rounds) });
  const alone: Record<string, number>[] = [];
  for (let round = 0; round < Number(args.rounds); round++) alone.push(await run(storeAlone));
  console.log('for reference, the trail asked alone (no claims): medians');
  for (const k of Object.keys(alone[0]!))
    console.log(
      `  ${k.padEnd(20)} ${median(alone.map((r) => r[k]!))
        .toFixed(3)
        .padStart(9)}`,
    );
} finally {
  await baselineLeases.close();
  await leases.close();
  await store.close();
  await dropSchema(schema);
}
