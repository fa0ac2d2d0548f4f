/**
 * A gateway process killed (SIGKILL) while the audit entries of a message it published are pending
 * (answered 503 GW_ERR_AUDIT_PENDING). The message is on the bus and will be delivered, so it is
 * accepted: the next start on the same data directory must write its entries from the spool
 * (pipeline/audit-pending-spool.ts) before it takes messages, so that the trail has its `accepted`
 * once and a resend of its nachrichtenUUID is refused (409) instead of being published again.
 *
 * The gateway is a `gw start` of its own, so that it can really be killed. The store refuses the
 * message's entries for real: a trigger on the audit table, installed in the store itself (SQLite
 * file or PostgreSQL schema) from outside the process, raises on the message's `accepted` from its
 * sender. The store is "repaired" by dropping the trigger while the process is dead.
 */
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { auditPendingDirOf } from '../../gateway/pipeline/audit-pending-spool.ts';
import { dropSchema, freshSchemaName, PG_URL, withPgClient } from '../conformance/pg-test-schema.ts';
import { freePort, type GwServer, startGw } from '../kafka/support/gw-process.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually, TEST_PASSPHRASE, tempDir } from '../support/gateway.ts';

interface Problem {
  code: string;
  detail?: string;
}

/** How a test reaches the store behind a `gw start`: its env, the fault, the trail. */
interface StoreUnderTest {
  env: Record<string, string>;
  refuseAccepted(messageId: string): Promise<void>;
  repair(): Promise<void>;
  /** The kinds of the message's entries in the trail. */
  kindsOf(messageId: string): Promise<string[]>;
  cleanUp(): Promise<void>;
}

function sqliteStore(dataDir: string): StoreUnderTest {
  const file = path.join(dataDir, 'audit.sqlite');
  const withDb = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(file, { fileMustExist: true, timeout: 10_000 });
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  return {
    env: {},
    async refuseAccepted(messageId) {
      withDb((db) =>
        db.exec(
          `CREATE TRIGGER test_refuse_accepted BEFORE INSERT ON audit_entries
           WHEN NEW.message_id = '${messageId}' AND NEW.kind = 'accepted' AND NEW.actor LIKE 'system:%'
           BEGIN SELECT RAISE(ABORT, 'injected: the audit store refuses the entry'); END`,
        ),
      );
    },
    async repair() {
      withDb((db) => db.exec('DROP TRIGGER test_refuse_accepted'));
    },
    async kindsOf(messageId) {
      return withDb((db) =>
        (
          db
            .prepare('SELECT kind FROM audit_entries WHERE message_id = ? ORDER BY chain, seq')
            .all(messageId) as {
            kind: string;
          }[]
        ).map((r) => r.kind),
      );
    },
    cleanUp: async () => {},
  };
}

function postgresStore(): StoreUnderTest {
  const schema = freshSchemaName('auditpendingcrash');
  return {
    env: { DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema },
    async refuseAccepted(messageId) {
      await withPgClient(schema, async (c) => {
        await c.query(
          `CREATE FUNCTION test_refuse_accepted() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'injected: the audit store refuses the entry'; END $$`,
        );
        await c.query(
          `CREATE TRIGGER test_refuse_accepted BEFORE INSERT ON audit_entries FOR EACH ROW
           WHEN (NEW.message_id = '${messageId}' AND NEW.kind = 'accepted' AND NEW.actor LIKE 'system:%')
           EXECUTE FUNCTION test_refuse_accepted()`,
        );
      });
    },
    async repair() {
      await withPgClient(schema, async (c) => {
        await c.query('DROP TRIGGER test_refuse_accepted ON audit_entries');
        await c.query('DROP FUNCTION test_refuse_accepted()');
      });
    },
    async kindsOf(messageId) {
      return withPgClient(schema, async (c) =>
        (
          await c.query<{ kind: string }>(
            'SELECT kind FROM audit_entries WHERE message_id = $1 ORDER BY chain, seq',
            [messageId],
          )
        ).rows.map((r) => r.kind),
      );
    },
    cleanUp: () => dropSchema(schema),
  };
}

const STORES: [string, (dataDir: string) => StoreUnderTest][] = [
  ['sqlite', sqliteStore],
  ['postgres', () => postgresStore()],
];

describe.each(STORES)('a gateway killed with audit entries pending (%s)', (_label, storeFor) => {
  const dataDir = tempDir('audit-pending-crash');
  const store = storeFor(dataDir);
  const servers: GwServer[] = [];
  const clients: SystemClient[] = [];

  /** `gw start` on the test's data directory; the first one makes it (keys, certificates). */
  async function start(): Promise<SystemClient> {
    const server = await startGw({
      ...process.env,
      ...store.env,
      GATEWAY_DATA_DIR: dataDir,
      GATEWAY_CONTRACTS_DIR: path.join(REPO_ROOT, 'contracts'),
      GATEWAY_PORT: String(await freePort()),
      GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
      GATEWAY_LOG_LEVEL: 'warn',
      GATEWAY_REDELIVERY_DELAY_MS: '200',
      // A sixth of it: a request waits 1 s for its entries before the 503.
      GATEWAY_REQUEST_TIMEOUT_MS: '6000',
      GATEWAY_MESSAGE_ID_WAIT_MS: '1000',
    });
    servers.push(server);
    const client = SystemClient.forSystem(server.url, dataDir, 'sn-melde');
    clients.push(client);
    return client;
  }

  /** The message's records on a deliver topic of the embedded bus. */
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

  function spooled(): string[] {
    try {
      return readdirSync(auditPendingDirOf(dataDir, 'main'));
    } catch {
      return [];
    }
  }

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    for (const server of servers) await server.stop();
    await store.cleanUp();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** SIGTERM to what still runs: one process on the data directory at a time. */
  async function stopAll(): Promise<void> {
    for (const server of servers) await server.stop();
  }

  it('the next start writes the entries from the spool: one `accepted`, a resend refused, one record on the bus', async () => {
    const first = await start();
    const msg = rueckmeldung();
    await store.refuseAccepted(msg.id);

    const r = await first.send('sn-melde', msg.body, 'application/json');
    expect(r.status, JSON.stringify(r.body)).toBe(503);
    expect((r.body as Problem).code).toBe('GW_ERR_AUDIT_PENDING');
    expect(published(msg.id)).toBe(1);
    expect(await store.kindsOf(msg.id)).not.toContain('accepted');

    // Killed while the entries are pending; the store comes back while the process is dead.
    await servers[0]!.kill9();
    await store.repair();
    expect(await store.kindsOf(msg.id)).not.toContain('accepted');

    const second = await start();
    // Written before the restarted gateway said it was ready.
    const kinds = await store.kindsOf(msg.id);
    const count = (kind: string) => kinds.filter((k) => k === kind).length;
    for (const kind of ['received', 'accepted', 'signed', 'queued']) expect(count(kind), kind).toBe(1);
    expect(count('failed')).toBe(0);
    expect(spooled()).toEqual([]);

    const resend = await second.send('sn-melde', msg.body, 'application/json');
    expect(resend.status, JSON.stringify(resend.body)).toBe(409);
    expect((resend.body as Problem).code).toBe('GW_ERR_DUPLICATE_MESSAGE');
    expect(published(msg.id)).toBe(1);
    expect((await store.kindsOf(msg.id)).filter((k) => k === 'accepted')).toHaveLength(1);
  }, 180_000);

  it('a store still refusing at the next start: the id is held, never published again, and accepted once it lands', async () => {
    await stopAll();
    const first = await start();
    const msg = rueckmeldung();
    await store.refuseAccepted(msg.id);
    const r = await first.send('sn-melde', msg.body, 'application/json');
    expect((r.body as Problem).code).toBe('GW_ERR_AUDIT_PENDING');
    await servers.at(-1)!.kill9();

    // Restarted while the store still refuses the entries: they stay in the spool, retried.
    const second = await start();
    expect(await store.kindsOf(msg.id)).not.toContain('accepted');
    // The sender's resend waits for the held id and is refused as in flight: not published again.
    const early = await second.send('sn-melde', msg.body, 'application/json');
    expect(early.status, JSON.stringify(early.body)).toBe(503);
    expect((early.body as Problem).code).toBe('GW_ERR_MESSAGE_ID_IN_FLIGHT');
    expect(published(msg.id)).toBe(1);
    expect(spooled()).toHaveLength(1);

    await store.repair();
    await eventually(
      async () => ((await store.kindsOf(msg.id)).includes('accepted') ? true : undefined),
      20_000,
      'the spooled entries to land',
    );
    await eventually(async () => (spooled().length === 0 ? true : undefined), 5_000, 'the spool to empty');
    const kinds = await store.kindsOf(msg.id);
    for (const kind of ['received', 'accepted', 'signed', 'queued'])
      expect(
        kinds.filter((k) => k === kind),
        kind,
      ).toHaveLength(1);
    expect(kinds).not.toContain('failed');

    const late = await second.send('sn-melde', msg.body, 'application/json');
    expect(late.status, JSON.stringify(late.body)).toBe(409);
    expect((late.body as Problem).code).toBe('GW_ERR_DUPLICATE_MESSAGE');
    expect(published(msg.id)).toBe(1);
  }, 180_000);
});
