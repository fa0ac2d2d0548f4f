/**
 * A gateway process killed (SIGKILL) after it published a message and before it appended the
 * message's audit entries: the crash window no spool covers (nothing failed yet). The message is
 * on the bus and is delivered, so it is accepted: the next start must write its entries from the
 * bus record (pipeline/ingress-audit-recovery.ts) before it takes messages, so that the trail has
 * one `accepted` (marked recovered, before the `delivered`) and a resend of its nachrichtenUUID is
 * refused (409) instead of being published a second time. And a clean stop leaves the bookmark (the
 * `ingress-audit.<chain>` group's offsets) at the ends of the deliver topics.
 *
 * The window is held open for real, from outside the process: the test holds the write lock of
 * `audit.sqlite` (BEGIN EXCLUSIVE on its own connection), so the gateway's replay check (a read)
 * passes, its publish goes through, and its append waits for the lock (the store's busy timeout,
 * 10 s). The test sees the record on the bus, kills the process, and lets go of the lock.
 *
 * One scenario for every bus (the audit store is SQLite in each): the bus is the parameter, and
 * each bus's suite stays in its own project (test/kafka/** gets a broker).
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { freePort, type GwServer, startGw } from '../kafka/support/gw-process.ts';
import { rueckmeldung } from './fixtures.ts';
import { eventually, TEST_PASSPHRASE } from './gateway.ts';

/** What the scenario needs to know of the bus under test. */
export interface CrashScenarioBus {
  /** The describe block's title. */
  title: string;
  /** The gateways' data directory (one installation, started again and again). */
  dataDir: string;
  /** The deliver topic of st-melde, where sn-melde's 0201 goes. */
  deliverTopic: string;
  /** The bus's settings for `gw start`, over an environment without any bus or PostgreSQL settings (read at each start). */
  env(): NodeJS.ProcessEnv;
  /** The records on the deliver topic that carry `messageId`, counted by a reader other than the gateway. */
  published(messageId: string): Promise<number>;
  /** The deliver topics, and those of their partitions whose bookmark is not at the end (read after a stop). */
  bookmark(): Promise<{ topics: string[]; behind: string[] }>;
  /** How long the first start's publish may take to be seen on the bus. */
  publishWaitMs: number;
  /** How long the restarted gateway may take to deliver the message. */
  deliveryWaitMs: number;
  testTimeoutMs: number;
  /** Removes what the bus left (topics, the data directory) after the processes are gone. */
  cleanup(): Promise<void>;
}

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

/** What the ingress writes for a message, in order, on its own chain. */
const INGRESS_KINDS = ['received', 'accepted', 'signed', 'queued'];

export function ingressAuditCrashScenario(bus: CrashScenarioBus): void {
  describe(bus.title, () => {
    const { dataDir } = bus;
    const servers: GwServer[] = [];
    const clients: SystemClient[] = [];

    /** `gw start`; logs how long it took to say it is ready (the recovery runs before). */
    async function start(label: string): Promise<SystemClient> {
      // The bus's settings and the SQLite audit store, whatever the test run's environment says.
      const { DATABASE_URL, DATABASE_SCHEMA, GATEWAY_BUS, KAFKA_BROKERS, KAFKA_TOPIC_PREFIX, ...inherited } =
        process.env;
      const began = performance.now();
      const server = await startGw({
        ...inherited,
        ...bus.env(),
        GATEWAY_DATA_DIR: dataDir,
        GATEWAY_CONTRACTS_DIR: path.join(REPO_ROOT, 'contracts'),
        GATEWAY_PORT: String(await freePort()),
        GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
        GATEWAY_LOG_LEVEL: 'warn',
        // No checkpoint write meets the held lock before the request does.
        GATEWAY_AUDIT_CHECKPOINT_SECONDS: '3600',
      });
      process.stderr.write(
        `ingress-audit-crash (${bus.title}): ${label}: ready after ${Math.round(performance.now() - began)} ms\n`,
      );
      servers.push(server);
      const client = SystemClient.forSystem(server.url, dataDir, 'sn-melde');
      clients.push(client);
      return client;
    }

    const trailOf = (messageId: string): TrailRow[] => {
      const db = new Database(path.join(dataDir, 'audit.sqlite'), { readonly: true, fileMustExist: true });
      try {
        return db
          .prepare(
            'SELECT chain, time, seq, kind, actor, detail FROM audit_entries WHERE message_id = ? ORDER BY chain, seq',
          )
          .all(messageId) as TrailRow[];
      } finally {
        db.close();
      }
    };

    afterAll(async () => {
      await Promise.all(clients.map((c) => c.close()));
      for (const server of servers) await server.kill9();
      await bus.cleanup();
    });

    it(
      'the next start writes its entries from the bus record: one `accepted`, a resend refused, one record on the bus',
      async () => {
        const first = await start('first start (fresh chain)');
        const msg = rueckmeldung();

        const lock = new Database(path.join(dataDir, 'audit.sqlite'), { fileMustExist: true });
        let killed = false;
        try {
          lock.exec('BEGIN EXCLUSIVE');
          // Not awaited: the answer never comes (the process is killed while appending).
          const answer = first
            .send('sn-melde', msg.body, 'application/json')
            .catch((error: unknown) => error);
          await eventually(
            async () => ((await bus.published(msg.id)) === 1 ? true : undefined),
            bus.publishWaitMs,
            'the publish',
          );
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
        expect(await bus.published(msg.id)).toBe(1);
        expect(trailOf(msg.id).map((e) => e.kind)).not.toContain('accepted');

        const second = await start('start with a record past the bookmark');
        // Written before the restarted gateway said it was ready, on the ingress's chain. The delivery
        // stage, which may already have delivered it by now, appends to a chain of its own.
        const recovered = trailOf(msg.id).filter((e) => e.chain === 'main');
        expect(recovered.map((e) => e.kind)).toEqual(INGRESS_KINDS);
        expect(
          trailOf(msg.id)
            .filter((e) => e.kind !== 'delivered')
            .map((e) => e.kind),
        ).toEqual(INGRESS_KINDS);
        for (const e of recovered) expect(JSON.parse(e.detail).recoveredFrom).toBe('bus');
        expect(JSON.parse(recovered[1]!.detail).busPosition).toMatch(
          new RegExp(`^${bus.deliverTopic}/\\d+/0$`),
        );
        expect(recovered.find((e) => e.kind === 'accepted')!.actor).toBe('system:sn-melde');
        expect(JSON.parse(recovered[0]!.detail).requestId).toEqual(expect.any(String));

        const resend = await second.send('sn-melde', msg.body, 'application/json');
        expect(resend.status, JSON.stringify(resend.body)).toBe(409);
        expect((resend.body as Problem).code).toBe('GW_ERR_DUPLICATE_MESSAGE');
        expect(await bus.published(msg.id)).toBe(1);

        // Delivered after the restart, audited after its `accepted`.
        await eventually(
          async () => (trailOf(msg.id).some((e) => e.kind === 'delivered') ? true : undefined),
          bus.deliveryWaitMs,
          'the delivery',
        );
        // The delivery stage appends to a chain of its own: the order across chains is the entries' times.
        const trail = trailOf(msg.id);
        expect(trail.filter((e) => e.kind === 'accepted')).toHaveLength(1);
        const timeOf = (kind: string) => trail.find((e) => e.kind === kind)!.time;
        expect(timeOf('accepted') <= timeOf('delivered'), JSON.stringify(trail)).toBe(true);
        expect(await servers.at(-1)!.stop()).toBe(0);
      },
      bus.testTimeoutMs,
    );

    it(
      'a clean stop leaves the bookmark at the ends of the deliver topics: the next start reads nothing',
      async () => {
        const client = await start('start after a clean stop');
        const msg = rueckmeldung();
        const r = await client.send('sn-melde', msg.body, 'application/json');
        expect(r.status, JSON.stringify(r.body)).toBe(202);
        expect(await servers.at(-1)!.stop()).toBe(0);

        const { topics, behind } = await bus.bookmark();
        expect(topics).toContain(bus.deliverTopic);
        expect(behind).toEqual([]);
        // The restart does not write the message's entries again.
        await start('start after a clean stop (2)');
        expect(trailOf(msg.id).filter((e) => e.kind === 'accepted')).toHaveLength(1);
      },
      bus.testTimeoutMs,
    );
  });
}
