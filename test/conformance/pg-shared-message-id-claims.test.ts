/**
 * PgMessageIdLeases: the SharedMessageIdClaims conformance suite on the real PostgreSQL, each test
 * in a schema of its own; its instances stand for the gateway processes sharing the database.
 */
import pg from 'pg';
import { createLogger } from '../../gateway/log/logger.ts';
import { PgMessageIdLeases } from '../../gateway/pipeline/pg-message-id-leases.ts';
import type { SharedMessageIdClaims } from '../../gateway/ports/shared-message-id-claims.ts';
import { dropSchema, freshSchemaName, PG_URL } from './pg-test-schema.ts';
import { runSharedMessageIdClaimsConformance } from './shared-message-id-claims.conformance.ts';

const logger = createLogger({ level: 'silent' });

/** Instances whose renewals are held back, by holder: their renewal statements never return. */
const stalled = new Set<string>();
const query = pg.Pool.prototype.query;
// Renewals and confirms share one statement; the suite resumes an instance before it confirms.
pg.Pool.prototype.query = function (this: pg.Pool, ...args: unknown[]) {
  const q = args[0] as { name?: string; values?: unknown[] } | undefined;
  if (q?.name === 'message-id-claim-renew' && q.values?.some((v) => stalled.has(v as string)))
    return new Promise(() => {});
  return (query as (...a: unknown[]) => unknown).apply(this, args);
} as typeof query;

runSharedMessageIdClaimsConformance('postgres', async () => {
  const schema = freshSchemaName('shared_idclaims');
  return {
    open: ({ leaseMs } = {}) =>
      PgMessageIdLeases.connect({
        url: PG_URL,
        schema,
        logger,
        ...(leaseMs !== undefined ? { leaseMs } : {}),
        pollMs: { first: 10, max: 50 },
      }),
    stall: (claims: SharedMessageIdClaims) => {
      const { holder } = claims as PgMessageIdLeases;
      stalled.add(holder);
      return () => stalled.delete(holder);
    },
    cleanup: () => dropSchema(schema),
  };
});
