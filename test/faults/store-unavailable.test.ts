/**
 * A request that fails because PostgreSQL is restarting is answered 503 GW_ERR_NOT_READY with
 * Retry-After, not 500: found by the fault suite (kafka-faults.test.ts), where a PostgreSQL crash
 * made ingress answer 500 GW_ERR_INTERNAL. The errors here are the driver's real ones: a refused
 * connection and a backend terminated by the server (57P01), on the machine's PostgreSQL.
 */
import kafkajs from 'kafkajs';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createPgPool, inTransaction } from '../../gateway/db/postgres.ts';
import { toGatewayError } from '../../gateway/errors/to-gateway-error.ts';
import { PG_URL } from '../conformance/pg-test-schema.ts';
import { freePortBelowEphemeral } from '../support/ports.ts';

const { Kafka, logLevel } = kafkajs;

async function errorOf(work: () => Promise<unknown>): Promise<unknown> {
  try {
    await work();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

describe('store connection failures are 503 GW_ERR_NOT_READY, other errors stay 500', () => {
  it('a refused connection', async () => {
    const port = await freePortBelowEphemeral(21_900, 22_900);
    const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/test` });
    const error = await errorOf(() => client.connect());
    const problem = toGatewayError(error);
    expect(problem).toMatchObject({ code: 'GW_ERR_NOT_READY', status: 503, headers: { 'retry-after': '5' } });
  });

  it('a backend the server terminates (57P01), and the pool error after it', async () => {
    const victim = new pg.Client({ connectionString: PG_URL });
    victim.on('error', () => {}); // the server closes the connection: expected here
    await victim.connect();
    const pid = (await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const killer = new pg.Client({ connectionString: PG_URL });
    await killer.connect();
    const pending = errorOf(() => victim.query('SELECT pg_sleep(5)'));
    await new Promise((r) => setTimeout(r, 200));
    await killer.query('SELECT pg_terminate_backend($1)', [pid]);
    await killer.end();
    const terminated = await pending;
    expect((terminated as { code?: string }).code).toBe('57P01');
    expect(toGatewayError(terminated).code).toBe('GW_ERR_NOT_READY');
    // The same client afterwards: "Client has encountered a connection error and is not queryable".
    expect(toGatewayError(await errorOf(() => victim.query('SELECT 1'))).code).toBe('GW_ERR_NOT_READY');
  });

  it("the Kafka client's errors (a broker nobody answers on) are 503 GW_ERR_BUS_UNAVAILABLE", async () => {
    const port = await freePortBelowEphemeral(21_900, 22_900);
    const kafka = new Kafka({
      brokers: [`127.0.0.1:${port}`],
      connectionTimeout: 200,
      retry: { retries: 0 },
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    const error = await errorOf(() => admin.connect());
    expect((error as Error).name).toMatch(/^KafkaJS/);
    expect(toGatewayError(error)).toMatchObject({
      code: 'GW_ERR_BUS_UNAVAILABLE',
      status: 503,
      headers: { 'retry-after': '5' },
    });
  });

  it('anything else is still an internal error', () => {
    expect(toGatewayError(new TypeError('x is undefined')).code).toBe('GW_ERR_INTERNAL');
    expect(toGatewayError(Object.assign(new Error('duplicate key'), { code: '23505' })).code).toBe(
      'GW_ERR_INTERNAL',
    );
    // A client that aborts its upload: the request stream's error, not a store's socket.
    const aborted = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    expect(toGatewayError(aborted).code).toBe('GW_ERR_INTERNAL');
  });

  it('a transaction whose connection the server terminates fails; the process does not crash', async () => {
    // Found by the fault suite: a PostgreSQL crash ended a gateway process with an unhandled
    // 'error' event ("Connection terminated unexpectedly") from the client inTransaction held.
    const pool = createPgPool({ url: PG_URL, max: 1 });
    const killer = new pg.Client({ connectionString: PG_URL });
    await killer.connect();
    try {
      const failed = await errorOf(() =>
        inTransaction(pool, async (client) => {
          const { pid } = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!;
          await killer.query('SELECT pg_terminate_backend($1)', [pid]);
          await new Promise((r) => setTimeout(r, 300)); // no query in flight when the socket closes
          await client.query('SELECT 1');
        }),
      );
      expect(toGatewayError(failed).code).toBe('GW_ERR_NOT_READY');
      // The broken connection was discarded: the pool serves the next transaction.
      expect(await inTransaction(pool, async (c) => (await c.query('SELECT 1 AS x')).rows[0].x)).toBe(1);
    } finally {
      await killer.end();
      await pool.end();
    }
  });
});
