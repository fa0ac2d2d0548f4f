/**
 * A gateway process killed (SIGKILL) after it published a message and before it appended the
 * message's audit entries: the crash window no spool covers (nothing failed yet). The message is
 * on the bus and is delivered, so it is accepted: the next start must write its entries from the
 * bus record (pipeline/ingress-audit-recovery.ts) before it takes messages, so that the trail has
 * one `accepted` (marked recovered, before the `delivered`) and a resend of its nachrichtenUUID is
 * refused (409) instead of being published a second time.
 *
 * The window is held open for real, from outside the process: the test holds the write lock of
 * `audit.sqlite` (BEGIN EXCLUSIVE on its own connection), so the gateway's replay check (a read)
 * passes, its publish to `bus.sqlite` goes through, and its append waits for the lock (the store's
 * busy timeout, 10 s). The test sees the record in `bus.sqlite`, kills the process, and lets go of
 * the lock.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { freePort, type GwServer, startGw } from '../kafka/support/gw-process.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually, TEST_PASSPHRASE, tempDir } from '../support/gateway.ts';

interface Problem {
  code: string;
}

interface TrailRow {
  chain: string;
  time: string;
  seq: number;
  kind: string;
  actor: string;
  detail: string;
}

describe('a gateway killed between the publish and the audit append (embedded: SQLite bus and audit)', () => {
  const dataDir = tempDir('ingress-audit-crash');
  const servers: GwServer[] = [];
  const clients: SystemClient[] = [];

  async function start(): Promise<SystemClient> {
    // The embedded default, whatever the test run's environment says about PostgreSQL or Kafka.
    const { DATABASE_URL, DATABASE_SCHEMA, GATEWAY_BUS, KAFKA_BROKERS, ...inherited } = process.env;
    const server = await startGw({
      ...inherited,
      GATEWAY_DATA_DIR: dataDir,
      GATEWAY_CONTRACTS_DIR: path.join(REPO_ROOT, 'contracts'),
      GATEWAY_PORT: String(await freePort()),
      GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
      GATEWAY_LOG_LEVEL: 'warn',
      // No checkpoint write meets the held lock before the request does.
      GATEWAY_AUDIT_CHECKPOINT_SECONDS: '3600',
    });
    servers.push(server);
    const url = /ready at (\S+)/.exec(server.output())?.[1];
    if (!url) throw new Error(`no URL in the output of gw start:\n${server.output()}`);
    const client = SystemClient.forSystem(url, dataDir, 'sn-melde');
    clients.push(client);
    return client;
  }

  function readonly<T>(file: string, fn: (db: Database.Database) => T): T {
    const db = new Database(path.join(dataDir, file), { readonly: true, fileMustExist: true });
    try {
      return fn(db);
    } finally {
      db.close();
    }
  }

  /** The message's records on a deliver topic of the embedded bus. */
  const published = (messageId: string): number =>
    readonly(
      'bus.sqlite',
      (db) =>
        (
          db
            .prepare(`SELECT count(*) AS n FROM records WHERE topic LIKE '%.deliver.%' AND headers LIKE ?`)
            .get(`%${messageId}%`) as { n: number }
        ).n,
    );

  const trailOf = (messageId: string): TrailRow[] =>
    readonly(
      'audit.sqlite',
      (db) =>
        db
          .prepare(
            'SELECT chain, time, seq, kind, actor, detail FROM audit_entries WHERE message_id = ? ORDER BY chain, seq',
          )
          .all(messageId) as TrailRow[],
    );

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    for (const server of servers) await server.kill9();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('the next start writes its entries from the bus record: one `accepted`, a resend refused, one record on the bus', async () => {
    const first = await start();
    const msg = rueckmeldung();

    const lock = new Database(path.join(dataDir, 'audit.sqlite'), { fileMustExist: true });
    let killed = false;
    try {
      lock.exec('BEGIN EXCLUSIVE');
      // Not awaited: the answer never comes (the process is killed while appending).
      const answer = first.send('sn-melde', msg.body, 'application/json').catch((error: unknown) => error);
      await eventually(async () => (published(msg.id) === 1 ? true : undefined), 8_000, 'the publish');
      await servers[0]!.kill9();
      killed = true;
      const r = await answer;
      expect((r as { status?: number }).status, 'no answer from a killed process').toBeUndefined();
    } finally {
      if (lock.inTransaction) lock.exec('ROLLBACK');
      lock.close();
    }
    expect(killed).toBe(true);
    // The window was hit: published, not audited.
    expect(published(msg.id)).toBe(1);
    expect(trailOf(msg.id).map((e) => e.kind)).not.toContain('accepted');

    const second = await start();
    // Written before the restarted gateway said it was ready, on the ingress's chain. The delivery
    // stage, which may already have delivered it by now, appends to a chain of its own.
    const recovered = trailOf(msg.id).filter((e) => e.chain === 'main');
    const kinds = recovered.map((e) => e.kind);
    expect(kinds).toEqual(['received', 'accepted', 'signed', 'queued']);
    for (const e of recovered) expect(JSON.parse(e.detail).recoveredFrom).toBe('bus');
    expect(recovered.find((e) => e.kind === 'accepted')!.actor).toBe('system:sn-melde');
    expect(JSON.parse(recovered[0]!.detail).requestId).toEqual(expect.any(String));

    const resend = await second.send('sn-melde', msg.body, 'application/json');
    expect(resend.status, JSON.stringify(resend.body)).toBe(409);
    expect((resend.body as Problem).code).toBe('GW_ERR_DUPLICATE_MESSAGE');
    expect(published(msg.id)).toBe(1);

    // Delivered after the restart, audited after its `accepted`.
    await eventually(
      async () => (trailOf(msg.id).some((e) => e.kind === 'delivered') ? true : undefined),
      20_000,
      'the delivery',
    );
    // The delivery stage appends to a chain of its own: the order across chains is the entries' times.
    const trail = trailOf(msg.id);
    expect(trail.filter((e) => e.kind === 'accepted')).toHaveLength(1);
    const timeOf = (kind: string) => trail.find((e) => e.kind === kind)!.time;
    expect(timeOf('accepted') <= timeOf('delivered'), JSON.stringify(trail)).toBe(true);
  }, 180_000);

  it('a clean stop leaves the bookmark at the ends of the deliver topics: the next start reads nothing', async () => {
    const client = await start();
    const msg = rueckmeldung();
    const r = await client.send('sn-melde', msg.body, 'application/json');
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(await servers.at(-1)!.stop()).toBe(0);

    const behind = readonly(
      'bus.sqlite',
      (db) =>
        db
          .prepare(
            `SELECT r.topic, r.partition, max(r.offset) + 1 AS end, g.next_offset AS committed
             FROM records r LEFT JOIN group_offsets g
               ON g.grp LIKE '%.ingress-audit.main' AND g.topic = r.topic AND g.partition = r.partition
             WHERE r.topic LIKE '%.deliver.%' GROUP BY r.topic, r.partition`,
          )
          .all() as { topic: string; partition: number; end: number; committed: number | null }[],
    );
    expect(behind.length).toBeGreaterThan(0);
    expect(behind.filter((p) => p.committed !== p.end)).toEqual([]);
    // The restart does not write the message's entries again.
    await start();
    expect(trailOf(msg.id).filter((e) => e.kind === 'accepted')).toHaveLength(1);
  }, 180_000);
});
