/**
 * The start-up catch-up of callbacks and the audit listener, racing: a gateway starts while
 * callbacks are owed on a chain (another process appended deliveries and never published their
 * callbacks), and entries are appended to that chain before the catch-up has covered it — held up
 * by a lock on the watermark table (PostgreSQL), and once with its first attempt failing on a
 * terminated connection, tried again (catch-up-retry.ts). The sender's real HTTPS receiver counts
 * what it gets by event id: every owed and every new event exactly once, none missing
 * (catch-up-gate.ts). Before the gate the listener's entries were sent again by the catch-up's
 * retry and the owed ones again by the takeover replay their first append set off.
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../gateway/audit/audit-log.ts';
import type { CallbackEvent } from '../../gateway/callbacks/callback-event.ts';
import type { CallbackTimings } from '../../gateway/callbacks/message-follow-ups.ts';
import { dropSchema, freshSchemaName, PG_URL, withPgClient } from '../conformance/pg-test-schema.ts';
import {
  contractsWith,
  eventually,
  startTestGateway,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';
import { type PushReceiver, startCallbackReceiver } from '../support/push-receiver.ts';

const SECRET_ENV = 'GW_TEST_CALLBACK_RACE_SECRET';
const SECRET = 'sn-melde callback race secret, 32 bytes and more';
const OWED = 5;
const LIVE = 6;

// The gateways here write their marks and replay taken-over chains sooner than the production
// defaults (a mark settles 1 s, a replay waits 2.2 s); the wait for repeats follows from these.
const SETTLE_MS = 100;
const INTERVAL_MS = 25;
/** The production relation (chain-takeovers.ts): twice the time a live writer's mark takes. */
const REPLAY_DELAY_MS = 2 * (SETTLE_MS + INTERVAL_MS);
const TIMINGS: CallbackTimings = {
  watermarkSettleMs: SETTLE_MS,
  watermarkIntervalMs: INTERVAL_MS,
  replayDelayMs: REPLAY_DELAY_MS,
};
/**
 * A callback on the in-process bus reaches the receiver within one consumer wake-up and one local
 * HTTPS round trip (milliseconds); this allows for many of those on a loaded host.
 */
const HOP_MS = 250;

const delivery = (messageId: string) => ({
  kind: 'delivered' as const,
  actor: 'gateway',
  messageId,
  senderSystem: 'sn-melde',
  receiverSystem: 'st-melde',
  messageType: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
});

describe('callbacks appended while the start-up catch-up has not covered their chain (PostgreSQL)', () => {
  const schema = freshSchemaName('callback_race');
  let dataDir: string;
  let contractsDir: string;
  let receiver: PushReceiver;
  /**
   * Callbacks that reached the receiver, by event id, verified or not: a copy sent again within the
   * same second carries the same signature and is refused as a replay, and its retry comes a second
   * or more later (callback-dispatcher.ts). Counting the refused copy catches a repeat at once.
   */
  const copies = new Map<string, CallbackEvent[]>();
  let running: TestGateway | undefined;
  let lock: pg.Client | undefined;

  beforeAll(async () => {
    dataDir = tempDir('callbacks-race');
    receiver = await startCallbackReceiver(dataDir, SECRET, (event) => {
      copies.set(event.id, [...(copies.get(event.id) ?? []), event]);
    });
    process.env[SECRET_ENV] = SECRET;
    contractsDir = contractsWith((systems) =>
      systems.map((s) =>
        s.id === 'sn-melde' ? { ...s, callback: { url: receiver.url, secretEnv: SECRET_ENV } } : s,
      ),
    );
  });
  afterEach(async () => {
    await lock?.end();
    lock = undefined;
    await running?.stop();
    running = undefined;
  });
  afterAll(async () => {
    await receiver?.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(contractsDir, { recursive: true, force: true });
    delete process.env[SECRET_ENV];
    await dropSchema(schema);
  });

  const start = async () => {
    running = await startTestGateway({
      dataDir,
      contractsDir,
      env: { DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema },
      gateway: { callbackTimings: TIMINGS },
    });
    return running.gateway;
  };

  /**
   * A chain with OWED deliveries of another process, whose callbacks it never published: owed at
   * the next start (no mark of the chain stored). Leaves no gateway running.
   */
  async function owedChain(): Promise<{ chain: string; owed: string[] }> {
    const gateway = await start();
    await gateway.followUps.caughtUp;
    const chain = `delivery.st-melde.race-${randomUUID().slice(0, 8)}`;
    const other = new AuditLog(gateway.auditStore, { chain });
    const owed: string[] = [];
    for (let i = 0; i < OWED; i++) {
      const id = randomUUID();
      await other.record(delivery(id));
      owed.push(id);
    }
    await running!.stop();
    running = undefined;
    return { chain, owed };
  }

  /** Holds every reader of the watermark table (the catch-up's first read) until released. */
  async function lockWatermarks(): Promise<{ pid: number; release: () => Promise<void> }> {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    lock = client;
    await client.query(`SET search_path TO ${schema}`);
    await client.query('BEGIN');
    await client.query('LOCK TABLE callback_watermark IN ACCESS EXCLUSIVE MODE');
    const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    return { pid, release: async () => void (await client.query('ROLLBACK')) };
  }

  /** The backends waiting for the lock of `pid`: the catch-up's read of the watermarks. */
  const waitingOn = (pid: number) =>
    eventually(
      async () => {
        const { rows } = await withPgClient(null, (c) =>
          c.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [
            pid,
          ]),
        );
        return rows.length > 0 ? rows.map((r) => r.pid) : undefined;
      },
      15_000,
      'the catch-up waiting for the watermark table',
    );

  const append = async (chain: string, n: number) => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const id = randomUUID();
      await running!.gateway.audit.withChain(chain).record(delivery(id));
      ids.push(id);
    }
    return ids;
  };

  /** Each message's delivered callback came, and after the replays could have come, exactly once. */
  async function expectEachOnce(messageIds: string[]): Promise<void> {
    const of = (messageId: string) => [...copies.values()].filter((c) => c[0]!.messageId === messageId);
    await eventually(
      async () => (messageIds.every((id) => of(id).length > 0) ? true : undefined),
      15_000,
      'every callback',
    );
    // Every append came before this: a replay it set off waits REPLAY_DELAY_MS, and one found while
    // that waits goes next, REPLAY_DELAY_MS after; then one hop to the receiver.
    await new Promise((r) => setTimeout(r, 2 * REPLAY_DELAY_MS + HOP_MS));
    for (const id of messageIds) {
      const events = of(id);
      expect(events, `the callbacks of ${id}`).toHaveLength(1);
      expect(events[0], `the callback of ${id}`).toHaveLength(1);
      expect(events[0]![0]).toMatchObject({ messageId: id, type: 'message.delivered' });
    }
  }

  it('sends each owed and each new callback once when appends come before the catch-up covered the chain', async () => {
    const { chain, owed } = await owedChain();
    const held = await lockWatermarks();
    const gateway = await start();
    await waitingOn(held.pid);
    const live = await append(chain, LIVE);
    await held.release();
    await gateway.followUps.caughtUp;
    const more = await append(chain, 2);
    await expectEachOnce([...owed, ...live, ...more]);
  });

  it('sends them once, none lost, when the first catch-up fails and a later attempt covers the chain', async () => {
    const { chain, owed } = await owedChain();
    const held = await lockWatermarks();
    const gateway = await start();
    // The first attempt's read of the watermarks fails: its connection is terminated.
    const [first] = await waitingOn(held.pid);
    const live = await append(chain, LIVE);
    await withPgClient(null, (c) => c.query('SELECT pg_terminate_backend($1)', [first]));
    // The next attempt (after its backoff) waits for the lock again; appends go on meanwhile.
    await eventually(
      async () => ((await waitingOn(held.pid)).some((pid) => pid !== first) ? true : undefined),
      15_000,
      'the catch-up tried again',
    );
    const during = await append(chain, LIVE);
    await held.release();
    await gateway.followUps.caughtUp;
    await expectEachOnce([...owed, ...live, ...during]);
  });
});
