/**
 * Callbacks survive a crash between the audit append and the publish: the gateway records that a
 * message was delivered, and the callback's publish to the bus fails (a broker that refuses, a disk
 * that is full) or never completes before the process is killed (SIGKILL, a gateway process of its
 * own: callbacks-crash-child.ts). The durable callback watermark stays below that entry, so the next
 * gateway on the same storage hands the callback to the dispatcher again at its start and the
 * sender's HTTPS receiver gets it; the callbacks below the watermark are not sent a second time. A
 * deployment without watermarks (fresh, or from before them) owes nothing: it starts at the heads.
 * A running gateway that takes over a chain another process wrote to and crashed on (a partition's
 * delivery chain after a rebalance) sends the callbacks after that chain's stored mark once.
 * Real HTTPS receiver; run with the embedded stores and with PostgreSQL (callbacks-replay.test.ts).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/app.ts';
import { AuditLog } from '../../gateway/audit/audit-log.ts';
import type { CallbackEvent } from '../../gateway/callbacks/callback-event.ts';
import type { CallbackWatermarkStore } from '../../gateway/callbacks/callback-watermark-store.ts';
import type { CallbackTimings } from '../../gateway/callbacks/message-follow-ups.ts';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import type { AuditEntry } from '../../gateway/ports/audit-store.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import {
  contractsWith,
  eventually,
  startTestGateway,
  TEST_PASSPHRASE,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';
import { type PushReceiver, startCallbackReceiver } from '../support/push-receiver.ts';

const SECRET_ENV = 'GW_TEST_CALLBACK_REPLAY_SECRET';
const SECRET = 'sn-melde callback replay secret, 32 bytes and more';

// The gateways of this scenario write their marks and replay taken-over chains sooner than the
// production defaults (a mark settles 1 s, a replay waits 2.2 s); the waits below follow from these.
const SETTLE_MS = 100;
const INTERVAL_MS = 25;
/** A mark clear for SETTLE_MS is written at the next tick: within this after its publish resolved. */
const MARK_LAG_MS = SETTLE_MS + INTERVAL_MS;
/** The production relation (chain-takeovers.ts): a live writer's mark has passed its entries by then. */
const REPLAY_DELAY_MS = 2 * MARK_LAG_MS;
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
/** A mark that wrongly passed an entry is stored by then: a tick after it settled, and its write. */
const MARKS_WRITTEN_MS = MARK_LAG_MS + INTERVAL_MS + HOP_MS;

export interface ReplayStorage {
  kind: 'sqlite' | 'postgres';
  /** Environment of the gateways (empty: the embedded stores under the data directory). */
  env: (dataDir: string) => Record<string, string>;
  /** The watermark store the gateways use, opened on its own (to read it, as after a crash). */
  open: (dataDir: string) => Promise<CallbackWatermarkStore>;
  /** Forgets every watermark: an installation from before watermarks. */
  forget: (dataDir: string) => Promise<void>;
  cleanup: () => Promise<void>;
}

export function describeCallbackReplay(label: string, storage: ReplayStorage): void {
  describe(`callbacks lost between the audit append and the publish (${label})`, () => {
    let dataDir: string;
    let contractsDir: string;
    let receiver: PushReceiver;
    /** Verified callbacks. */
    const received: CallbackEvent[] = [];
    /**
     * Every callback that reached the receiver, verified or not: a copy sent again within the same
     * second carries the same signature and is refused as a replay, and its retry comes a second
     * or more later (callback-dispatcher.ts). Counting the refused copy catches a repeat at once.
     */
    const arrived: CallbackEvent[] = [];
    let running: TestGateway | undefined;

    beforeAll(async () => {
      dataDir = tempDir('callbacks-replay');
      receiver = await startCallbackReceiver(dataDir, SECRET, (event, ok) => {
        arrived.push(event);
        if (ok) received.push(event);
      });
      process.env[SECRET_ENV] = SECRET;
      contractsDir = contractsWith((systems) =>
        systems.map((s) =>
          s.id === 'sn-melde' ? { ...s, callback: { url: receiver.url, secretEnv: SECRET_ENV } } : s,
        ),
      );
    });
    afterEach(async () => {
      await running?.stop();
      running = undefined;
    });
    afterAll(async () => {
      await receiver?.close();
      rmSync(dataDir, { recursive: true, force: true });
      delete process.env[SECRET_ENV];
      await storage.cleanup();
    });

    async function start(): Promise<Gateway> {
      running = await startTestGateway({
        dataDir,
        contractsDir,
        env: storage.env(dataDir),
        gateway: { callbackTimings: TIMINGS },
      });
      await running.gateway.followUps.caughtUp;
      return running.gateway;
    }

    async function stop(): Promise<void> {
      await running?.stop();
      running = undefined;
    }

    /** The bus refuses every callback from now on; deliveries and everything else go through. */
    function refuseCallbacks(gateway: Gateway): void {
      const bus = gateway.bus;
      const publish = bus.publish.bind(bus);
      bus.publish = async (records) => {
        if (records.some((r) => r.topic.includes('.callback.'))) throw new Error('broker unreachable');
        return publish(records);
      };
    }

    async function send(): Promise<string> {
      const msg = rueckmeldung();
      const sent = await running!.client('sn-melde').send('sn-melde', msg.body, 'application/json');
      expect(sent.status, JSON.stringify(sent.body)).toBe(202);
      return msg.id;
    }

    const delivered = (gateway: Gateway, id: string) =>
      eventually(
        async () => (await gateway.auditStore.query({ messageId: id, kind: 'delivered' }))[0],
        15_000,
        `the delivered entry of ${id}`,
      );
    const callbackOf = (id: string) =>
      eventually(
        async () => received.find((e) => e.messageId === id && e.type === 'message.delivered'),
        15_000,
        `the delivered callback of ${id}`,
      );
    /** The event ids of every copy of `id`'s callbacks that reached the receiver, refused ones too. */
    const copiesOf = (id: string) => arrived.filter((e) => e.messageId === id).map((e) => e.id);
    const storedMarks = async () => {
      const store = await storage.open(dataDir);
      try {
        return await store.read();
      } finally {
        await store.close();
      }
    };

    it('sends after the restart the callback whose publish failed after its entry was appended', async () => {
      const gateway = await start();
      expect(gateway.followUps.callbackWatermarks.storeKind).toBe(storage.kind);
      const before = await send();
      await callbackOf(before);

      refuseCallbacks(gateway);
      const lost = await send();
      const entry: AuditEntry = await delivered(gateway, lost);
      await gateway.followUps.callbacks.idle();
      // Longer than the watermarks take to settle: what a process that crashed now would leave behind.
      await new Promise((r) => setTimeout(r, MARKS_WRITTEN_MS));
      expect(copiesOf(lost)).toEqual([]);
      const marks = await storedMarks();
      expect(marks?.get(entry.chain) ?? 0).toBeLessThan(entry.seq);
      await stop();

      const restarted = await start();
      const callback = await callbackOf(lost);
      expect(callback).toMatchObject({ messageId: lost, receiverSystem: 'st-melde', status: 'delivered' });
      // The callbacks below the watermark are not sent again: each of `before`'s events came once.
      // The catch-up (done at start()) would have put them on the bus with `lost`'s: one hop more.
      await restarted.followUps.callbacks.idle();
      await new Promise((r) => setTimeout(r, HOP_MS));
      expect(new Set(copiesOf(before)).size).toBe(copiesOf(before).length);
      // Once handed over and published, the watermark passes the entry.
      await eventually(
        async () => (((await storedMarks())?.get(entry.chain) ?? 0) >= entry.seq ? true : undefined),
        5_000,
        'the watermark past the replayed entry',
      );
    });

    it('sends the callback of a process killed (SIGKILL) after the append and before the publish', async () => {
      // The first start of this storage is a clean one: the killed process is not the first.
      await start();
      await stop();
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', path.join(import.meta.dirname, 'callbacks-crash-child.ts')],
        {
          env: {
            // Configured by this test alone, whatever the test run's environment sets for gateways.
            ...Object.fromEntries(
              Object.entries(process.env).filter(([k]) => !/^(GATEWAY|DATABASE|KAFKA)_/.test(k)),
            ),
            ...storage.env(dataDir),
            GATEWAY_DATA_DIR: dataDir,
            GATEWAY_CONTRACTS_DIR: contractsDir,
            GATEWAY_PORT: '0',
            GATEWAY_LOG_LEVEL: 'silent',
            GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const exited = new Promise((resolve) => child.once('exit', resolve));
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      let client: SystemClient | undefined;
      try {
        const url = await eventually(
          async () => /ready at (\S+)/.exec(output)?.[1],
          60_000,
          `the gateway process (${output})`,
        );
        client = SystemClient.forSystem(url, dataDir, 'sn-melde');
        const msg = rueckmeldung();
        expect((await client.send('sn-melde', msg.body, 'application/json')).status).toBe(202);
        await eventually(
          async () => {
            const { body } = await client!.call<{ status?: string }>('GET', `/v1/messages/${msg.id}`);
            return body.status === 'delivered' ? true : undefined;
          },
          15_000,
          'the message delivered by the gateway process',
        );
        // Longer than the watermarks take to settle, then the crash: no stop, no last write.
        await new Promise((r) => setTimeout(r, 1500));
        child.kill('SIGKILL');
        await exited;
        expect(received.filter((e) => e.messageId === msg.id)).toEqual([]);

        await start();
        expect(await callbackOf(msg.id)).toMatchObject({ messageId: msg.id, status: 'delivered' });
      } finally {
        await client?.close();
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    });

    it('sends once the callback another process left unpublished on a chain this gateway then appends to', async () => {
      const gateway = await start();
      const suffix = randomUUID().slice(0, 8);
      const takenOver = `delivery.st-melde.takeover-${suffix}`;
      const covered = `delivery.st-melde.covered-${suffix}`;
      // Another process's appends (no listener, no publish), as a process SIGKILLed before its
      // callbacks reached the bus leaves them; its marks stored where this gateway reads them.
      const delivery = (messageId: string) => ({
        kind: 'delivered' as const,
        actor: 'gateway',
        messageId,
        senderSystem: 'sn-melde',
        receiverSystem: 'st-melde',
        messageType: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
      });
      const other = (chain: string) => new AuditLog(gateway.auditStore, { chain });
      const published = randomUUID();
      const lost = randomUUID();
      const coveredId = randomUUID();
      const first = await other(takenOver).record(delivery(published));
      const lostEntry = await other(takenOver).record(delivery(lost));
      const coveredEntry = await other(covered).record(delivery(coveredId));
      const marks = await storage.open(dataDir);
      try {
        await marks.advance(
          new Map([
            [takenOver, first.seq],
            [covered, coveredEntry.seq],
          ]),
        );
      } finally {
        await marks.close();
      }

      // This gateway takes both chains over: its own entries need no callback.
      const own = { kind: 'received' as const, actor: 'gateway', messageId: randomUUID() };
      const ownEntry = await gateway.audit.withChain(takenOver).record(own);
      await gateway.audit.withChain(covered).record({ ...own, messageId: randomUUID() });
      expect(ownEntry.seq).toBe(lostEntry.seq + 1);

      expect(await callbackOf(lost)).toMatchObject({ messageId: lost, status: 'delivered' });
      await eventually(
        async () => (((await storedMarks())?.get(takenOver) ?? 0) >= ownEntry.seq ? true : undefined),
        5_000,
        'the watermark past the replayed entry and the own one',
      );
      // A second replay of the chain would come a replay delay after the first, then one hop.
      await new Promise((r) => setTimeout(r, REPLAY_DELAY_MS + HOP_MS));
      expect(copiesOf(lost)).toHaveLength(1);
      // Below the stored marks: their callbacks are on the bus already, not sent again.
      expect(copiesOf(published)).toEqual([]);
      expect(copiesOf(coveredId)).toEqual([]);
    });

    it('owes nothing where watermarks were never kept: it starts at the current heads', async () => {
      const gateway = await start();
      refuseCallbacks(gateway);
      const unsent = await send();
      await delivered(gateway, unsent);
      await gateway.followUps.callbacks.idle();
      await stop();
      await storage.forget(dataDir);

      await start();
      const later = await send();
      await callbackOf(later);
      // Owed, it would have come with the catch-up at start(), or with a replay of the chain `later`
      // was appended to, a replay delay after that append: one hop more.
      await new Promise((r) => setTimeout(r, REPLAY_DELAY_MS + HOP_MS));
      expect(copiesOf(unsent)).toEqual([]);
      // Kept from now on: the next start owes what lies after these marks, not nothing.
      expect(await storedMarks()).toBeInstanceOf(Map);
    });
  });
}
