/**
 * In-process A/B of the ingress's replay check with PostgreSQL: before (the audit trail asked per id)
 * and now (the in-process claim, the cross-process lease in PostgreSQL, the trail asked, the lease
 * released off the answer's path and then the in-process claim). Per request: this thread's CPU and
 * the wall time until the request could go on to sealing, at 1 and at 16 requests in flight. Needs
 * the machine's PostgreSQL (TEST_DATABASE_URL overrides); uses a fresh schema and drops it.
 *
 *   node --import tsx test/bench/message-id-claims-ab.ts [--rounds 7] [--requests 2000]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { PgAuditStore } from '../../gateway/audit/pg-audit-store.ts';
import { createLogger } from '../../gateway/log/logger.ts';
import { MessageIdClaims } from '../../gateway/pipeline/message-id-claims.ts';
import { PgMessageIdLeases } from '../../gateway/pipeline/pg-message-id-leases.ts';
import { dropSchema, freshSchemaName, PG_URL } from '../conformance/pg-test-schema.ts';
import { alternatingRounds, cpuMicros } from './support/alternating-rounds.ts';

const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '7' }, requests: { type: 'string', default: '2000' } },
});
const REQUESTS = Number(args.requests);
const schema = freshSchemaName('claimsab');
const store = await PgAuditStore.connect({ url: PG_URL, schema });
const leases = await PgMessageIdLeases.connect({
  url: PG_URL,
  schema,
  logger: createLogger({ level: 'silent' }),
});
const claims = new MessageIdClaims();

type Check = (id: string) => Promise<void>;
const before: Check = async (id) => {
  if (await store.hasEvent(id, 'accepted')) throw new Error('replay');
};
const now: Check = async (id) => {
  const local = claims.claim([id]);
  if (!local.claimed) throw new Error('held');
  await leases.claim([id]);
  if (await store.hasEvent(id, 'accepted')) throw new Error('replay');
  void leases.release([id]).finally(() => local.release());
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
    // The releases of `now` still in flight finish before the next measurement.
    await new Promise((r) => setTimeout(r, 50));
  }
  return out;
}

try {
  await alternatingRounds('replay check (PostgreSQL)', before, now, run, { rounds: Number(args.rounds) });
} finally {
  await leases.close();
  await store.close();
  await dropSchema(schema);
}
