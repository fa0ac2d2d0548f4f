/**
 * Scale-out: two gateway processes (`gw start`, GATEWAY_BUS=kafka) on one data directory — shared
 * PKI, SQLite audit log and mailbox ledger — and different ports share one destination's load. Both
 * deliver a share (the audit log's `instance` detail says who); one is killed with SIGKILL in the
 * middle of the stream and the other takes its partitions over.
 *
 * The receiver must get every accepted message, none lost, and no duplicate — with one exception no
 * gateway can close: a push whose 2xx reached the killed process after the receiver took it but
 * before the process wrote its delivery ledger row is pushed again by the survivor (at-least-once;
 * the receiver gets the nachrichtenUUID to drop it). The test pins that exception down exactly:
 * every duplicate was first received before the kill, the killed process never recorded it as
 * delivered, and there are no more of them than the killed process had pushes in flight.
 */
import { hostname } from 'node:os';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditStore } from '../../gateway/audit/open-store.ts';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually, pushContracts, TEST_PASSPHRASE } from '../support/gateway.ts';
import { type PushReceiver, startPushReceiver } from '../support/push-receiver.ts';
import { freePort, type GwServer, startGw } from './support/gw-process.ts';
import { brokers, deleteByPrefix, uniquePrefix } from './support/kafka-run.ts';
import { removeScratchDirs, scratchDir } from './support/scratch.ts';

const MESSAGES = 240;
const SENDERS_PER_GATEWAY = 3;
/**
 * KafkaBus hands at most this many records of one subscription to handlers at once: one per
 * partition, as many partitions as the gateway creates per topic (GATEWAY_BUS_PARTITIONS, 16).
 */
const IN_FLIGHT_PER_PROCESS = 16;

afterAll(removeScratchDirs);

describe('two gateway processes on one Kafka', () => {
  const prefix = uniquePrefix('scale');
  const dataDir = scratchDir('scale-out');
  const receipts: { messageId: string; at: number }[] = [];
  let receiver: PushReceiver;
  const gateways: GwServer[] = [];
  let clients: SystemClient[] = [];

  beforeAll(async () => {
    receiver = await startPushReceiver(dataDir, (request) => {
      receipts.push({ messageId: request.messageId, at: Date.now() });
      return 204;
    });
    const contractsDir = pushContracts({ 'st-melde': receiver.url }, scratchDir('contracts'));
    const ports = [await freePort(), await freePort()];
    for (const port of ports) {
      gateways.push(
        await startGw({
          ...process.env,
          GATEWAY_DATA_DIR: dataDir,
          GATEWAY_CONTRACTS_DIR: contractsDir,
          GATEWAY_PORT: String(port),
          GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
          GATEWAY_LOG_LEVEL: 'warn',
          GATEWAY_BUS: 'kafka',
          KAFKA_BROKERS: brokers(),
          KAFKA_TOPIC_PREFIX: prefix,
        }),
      );
    }
    clients = ports.map((port) =>
      SystemClient.forSystem(`https://127.0.0.1:${port}`, dataDir, 'sn-melde', { connections: 4 }),
    );
  }, 300_000); // two `gw start`s: seconds here, minutes on a saturated machine

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(gateways.map((g) => g.stop()));
    await receiver?.close();
    await deleteByPrefix(prefix);
  });

  it('share the load, survive a SIGKILL of one, and deliver every accepted message', async () => {
    const [survivor, victim] = gateways as [GwServer, GwServer];
    const instanceOf = (g: GwServer) => `${hostname()}/${g.child.pid}`;

    // Both processes are members of the delivery group and own partitions before the stream starts.
    const admin = new kafkajs.Kafka({
      clientId: `${prefix}-probe`,
      brokers: brokers().split(','),
      logLevel: kafkajs.logLevel.NOTHING,
    }).admin();
    await admin.connect();
    try {
      await eventually(
        async () => {
          const { groups } = await admin.describeGroups([`${prefix}.delivery.st-melde`]);
          const g = groups[0];
          return g?.state === 'Stable' && g.members.length === 2 ? true : undefined;
        },
        30_000,
        'both processes in the delivery group',
      );
    } finally {
      await admin.disconnect();
    }

    const audit = openAuditStore({ dataDir });
    const deliveredBy = async () => {
      const byInstance = new Map<string, Set<string>>();
      for (const e of await audit.query({ kind: 'delivered', limit: 1_000_000 })) {
        const instance = String(e.detail.instance);
        if (!byInstance.has(instance)) byInstance.set(instance, new Set());
        byInstance.get(instance)!.add(e.messageId!);
      }
      return byInstance;
    };

    try {
      const messages = Array.from({ length: MESSAGES }, () => rueckmeldung());
      const accepted = new Set<string>();
      let next = 0;
      let victimAlive = true;
      let killedAt = 0;
      const send = async (client: SystemClient, isVictim: boolean) => {
        while (next < messages.length) {
          if (isVictim && !victimAlive) return;
          const m = messages[next++]!;
          try {
            const r = await client.send('sn-melde', m.body, 'application/json');
            if (r.status === 202) accepted.add(m.id);
          } catch {
            // The request the kill cut off: neither accepted nor refused; it may still arrive.
          }
        }
      };
      const killer = (async () => {
        await eventually(
          async () => {
            const by = await deliveredBy();
            const both =
              (by.get(instanceOf(survivor))?.size ?? 0) > 0 && (by.get(instanceOf(victim))?.size ?? 0) > 0;
            return both && new Set(receipts.map((r) => r.messageId)).size >= MESSAGES / 3 ? true : undefined;
          },
          90_000,
          'both processes delivering, a third of the stream through',
        );
        victimAlive = false;
        killedAt = Date.now();
        await victim.kill9();
      })();
      await Promise.all([
        ...Array.from({ length: SENDERS_PER_GATEWAY }, () => send(clients[0]!, false)),
        ...Array.from({ length: SENDERS_PER_GATEWAY }, () => send(clients[1]!, true)),
        killer,
      ]);
      expect(killedAt).toBeGreaterThan(0);
      expect(accepted.size).toBeGreaterThan(MESSAGES * 0.9);

      // None lost. Keys spread the stream over all partitions, about half of them the victim's until
      // the kill: without the takeover, half of what was accepted afterwards would never arrive.
      await eventually(
        async () => {
          const got = new Set(receipts.map((r) => r.messageId));
          return [...accepted].every((id) => got.has(id)) ? true : undefined;
        },
        90_000,
        'every accepted message at the receiver',
      );
      await new Promise((r) => setTimeout(r, 1000));

      const by = await deliveredBy();
      const victimShare = by.get(instanceOf(victim)) ?? new Set<string>();
      const survivorShare = by.get(instanceOf(survivor)) ?? new Set<string>();
      expect(victimShare.size).toBeGreaterThan(0);
      expect(survivorShare.size).toBeGreaterThan(0);

      const counts = new Map<string, number>();
      for (const r of receipts) counts.set(r.messageId, (counts.get(r.messageId) ?? 0) + 1);
      const duplicates = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
      for (const id of duplicates) {
        expect(counts.get(id), `${id} pushed more than twice`).toBe(2);
        const firstSeen = receipts.find((r) => r.messageId === id)!.at;
        // A push the victim had written to its socket before the SIGKILL still reaches the receiver a
        // moment later (3 ms seen on a loaded machine); what arrives 1 s after the kill is another story.
        expect(firstSeen, `${id} duplicated, first received after the kill`).toBeLessThanOrEqual(
          killedAt + 1000,
        );
        expect(victimShare.has(id), `${id} duplicated although the victim recorded it`).toBe(false);
        expect(survivorShare.has(id)).toBe(true);
      }
      expect(duplicates.length).toBeLessThanOrEqual(IN_FLIGHT_PER_PROCESS);
      // Every received message is delivered once in the audit log, by one of the two.
      for (const id of counts.keys()) {
        expect(Number(victimShare.has(id)) + Number(survivorShare.has(id)), id).toBe(1);
      }
      process.stderr.write(
        `scale-out: ${accepted.size} accepted, victim delivered ${victimShare.size}, survivor ${survivorShare.size}, ` +
          `${duplicates.length} duplicate push(es) from the crash window\n`,
      );
    } finally {
      await audit.close();
    }
  }, 240_000); // includes the 10 s session timeout before the takeover
});
