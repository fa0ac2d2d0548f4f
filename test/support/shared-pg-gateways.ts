/**
 * Two gateways as two processes of one installation: one data directory (the same CA, keys and
 * embedded bus) and one PostgreSQL schema (shared audit log and mailbox), each writing its own audit
 * chain (`gw-a`, `gw-b`). Registers its own beforeAll/afterAll; read the gateways after beforeAll.
 */
import { afterAll, beforeAll } from 'vitest';
import { dropSchema, freshSchemaName, PG_URL } from '../conformance/pg-test-schema.ts';
import { startTestGateway, type TestGateway, tempDir } from './gateway.ts';

export interface SharedPgGateways {
  /** The PostgreSQL schema both gateways use (for reading or changing their tables from outside). */
  readonly schema: string;
  readonly dataDir: string;
  readonly a: TestGateway;
  readonly b: TestGateway;
}

/** `env`: settings both gateways get besides their shared PostgreSQL schema and chains of their own. */
export function sharedPgGateways(label: string, env: Record<string, string> = {}): SharedPgGateways {
  const schema = freshSchemaName(label);
  const dataDir = tempDir(`${label}-shared`);
  let a: TestGateway | undefined;
  let b: TestGateway | undefined;
  const replicaEnv = (chain: string) => ({
    ...env,
    DATABASE_URL: PG_URL,
    DATABASE_SCHEMA: schema,
    GATEWAY_AUDIT_CHAIN: chain,
    GATEWAY_AUDIT_CHECKPOINT_SECONDS: '3600',
  });
  beforeAll(async () => {
    a = await startTestGateway({ dataDir, env: replicaEnv('gw-a') });
    b = await startTestGateway({ dataDir, env: replicaEnv('gw-b') });
  }, 120_000);
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await dropSchema(schema);
  });
  return {
    schema,
    dataDir,
    get a() {
      if (!a) throw new Error('gateway a is not started yet (read it inside a test)');
      return a;
    },
    get b() {
      if (!b) throw new Error('gateway b is not started yet (read it inside a test)');
      return b;
    },
  };
}
