/**
 * A gateway process that stalls past its claim's lease while accepting a message (a stopped VM, a
 * long GC: here SIGSTOP), at two processes of one installation sharing PostgreSQL. Gateway A is a
 * `gw start` of its own, so that it can really be stopped; B runs in the test's process.
 *
 * A's request claims the id and is held just before the trail's answer (the test locks the trail's
 * table until A is stopped), so the trail answers "not accepted" to A. While A is stopped:
 * - the same message at B waits for A's claim only up to the configured bound, then gets 503
 *   GW_ERR_MESSAGE_ID_IN_FLIGHT with Retry-After (not an HTTP request held open for the lease);
 * - after A's lease ran out, the sender's retry at B takes the id over and is accepted.
 * A then goes on: its lease is no longer its own, so it answers 503 GW_ERR_MESSAGE_ID_CLAIM_LOST and
 * publishes nothing. The trail has exactly one `accepted`, and the bus one record of the message.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClientResponse, SystemClient } from '../../gateway/cli/system-client.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { LEASE_MS } from '../../gateway/pipeline/pg-message-id-leases.ts';
import { dropSchema, freshSchemaName, PG_URL, withPgClient } from '../conformance/pg-test-schema.ts';
import { freePort, type GwServer, startGw } from '../kafka/support/gw-process.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import {
  eventually,
  startTestGateway,
  TEST_PASSPHRASE,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';

interface Problem {
  code: string;
}

/** B's bound on waiting for a claim held elsewhere (GATEWAY_MESSAGE_ID_WAIT_MS), short for the test. */
const WAIT_MS = 1_000;

describe('a gateway process stalled past its claim lease (two processes, one PostgreSQL)', () => {
  const schema = freshSchemaName('stalled');
  const dataDir = tempDir('stalled-shared');
  const env = (chain: string) => ({
    DATABASE_URL: PG_URL,
    DATABASE_SCHEMA: schema,
    GATEWAY_AUDIT_CHAIN: chain,
    GATEWAY_AUDIT_CHECKPOINT_SECONDS: '3600',
    GATEWAY_MESSAGE_ID_WAIT_MS: String(WAIT_MS),
  });
  let a: GwServer;
  let aClient: SystemClient;
  let b: TestGateway;

  beforeAll(async () => {
    // B first: it makes the data directory (keys, certificates) and runs the migrations.
    b = await startTestGateway({ dataDir, env: env('gw-b') });
    const port = await freePort();
    a = await startGw({
      ...process.env,
      ...env('gw-a'),
      GATEWAY_DATA_DIR: dataDir,
      GATEWAY_CONTRACTS_DIR: path.join(REPO_ROOT, 'contracts'),
      GATEWAY_PORT: String(port),
      GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
      GATEWAY_LOG_LEVEL: 'warn',
      GATEWAY_REDELIVERY_DELAY_MS: '200',
    });
    aClient = SystemClient.forSystem(a.url, dataDir, 'sn-melde');
  }, 120_000);

  afterAll(async () => {
    if (a && a.child.signalCode === null) a.child.kill('SIGCONT');
    await aClient?.close();
    await a?.stop();
    await b?.stop();
    await dropSchema(schema);
  });

  /** The bus records of the message on a deliver topic (the embedded bus both processes share). */
  function published(messageId: string): number {
    const db = new Database(path.join(dataDir, 'bus.sqlite'), { readonly: true, fileMustExist: true });
    try {
      const row = db
        .prepare(`SELECT count(*) AS n FROM records WHERE topic LIKE '%.deliver.%' AND headers LIKE ?`)
        .get(`%${messageId}%`) as { n: number };
      return row.n;
    } finally {
      db.close();
    }
  }

  it('lets the other process accept after the lease; the stalled one fails its confirm and publishes nothing', async () => {
    const msg = rueckmeldung();
    const lock = new pg.Client({ connectionString: PG_URL });
    await lock.connect();
    let first: Promise<ClientResponse<unknown>>;
    try {
      await lock.query(`SET search_path TO ${schema}`);
      await lock.query('BEGIN');
      // The trail's table locked: A's request waits for the trail's answer, its claim taken.
      await lock.query('LOCK TABLE audit_entries IN ACCESS EXCLUSIVE MODE');
      first = aClient.send('sn-melde', msg.body, 'application/json');
      // Asked on a connection of its own: inside the locking transaction, the view is a snapshot.
      await eventually(async () => {
        const { rows } = await withPgClient(schema, (c) =>
          c.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE wait_event_type = 'Lock' AND query LIKE 'SELECT 1 FROM audit_entries WHERE message_id%'`,
          ),
        );
        return rows[0].n > 0 ? true : undefined;
      });
      const { rows } = await lock.query('SELECT holder FROM message_id_claim WHERE message_id = $1', [
        msg.id,
      ]);
      expect(
        rows.map((r) => String(r.holder).split(':')[0]),
        'the claim is A’s',
      ).toEqual([String(a.child.pid)]);
      // A stalls; the trail answers its query ("not accepted") into a stopped process.
      a.child.kill('SIGSTOP');
      await lock.query('ROLLBACK');
    } finally {
      await lock.end();
    }
    const stoppedAt = Date.now();

    // The same message at B while A's lease lasts: refused at the bound, retryable, not after the lease.
    const early = await b.client('sn-melde').send('sn-melde', msg.body, 'application/json');
    expect(Date.now() - stoppedAt).toBeLessThan(LEASE_MS / 2);
    expect(early.status, JSON.stringify(early.body)).toBe(503);
    expect((early.body as Problem).code).toBe('GW_ERR_MESSAGE_ID_IN_FLIGHT');
    expect(Number(early.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(published(msg.id)).toBe(0);

    // A's lease runs out (it renews nothing while stopped); the sender's retry at B is accepted.
    await eventually(
      () =>
        withPgClient(schema, async (c) =>
          (
            await c.query('SELECT 1 FROM message_id_claim WHERE message_id = $1 AND expires_at < now()', [
              msg.id,
            ])
          ).rowCount
            ? true
            : undefined,
        ),
      LEASE_MS + 10_000,
      'A’s lease to run out',
    );
    const retry = await b.client('sn-melde').send('sn-melde', msg.body, 'application/json');
    expect(retry.status, JSON.stringify(retry.body)).toBe(202);

    // A goes on: its trail answer said "not accepted", but its claim is B's now.
    a.child.kill('SIGCONT');
    const stalled = await first;
    expect(stalled.status, JSON.stringify(stalled.body)).toBe(503);
    expect((stalled.body as Problem).code).toBe('GW_ERR_MESSAGE_ID_CLAIM_LOST');
    expect(stalled.headers['retry-after']).toBeDefined();

    const trail = await b.gateway.auditStore.query({ messageId: msg.id, limit: 10_000 });
    const kinds = (kind: string) => trail.filter((e) => e.kind === kind);
    expect(kinds('accepted')).toHaveLength(1);
    expect(kinds('queued')).toHaveLength(1);
    expect(kinds('rejected').map((e) => e.detail.code)).toEqual(
      expect.arrayContaining(['GW_ERR_MESSAGE_ID_IN_FLIGHT', 'GW_ERR_MESSAGE_ID_CLAIM_LOST']),
    );
    expect(kinds('rejected')).toHaveLength(2);
    expect(published(msg.id)).toBe(1);
    await eventually(async () => ((await b.gateway.mailbox.get('st-melde', msg.id)) ? true : undefined));
    // The sender's retry of A's 503: refused, the message was accepted (at B).
    expect((await aClient.send('sn-melde', msg.body, 'application/json')).status).toBe(409);
  }, 120_000);
});
