/**
 * A silent network partition between a gateway process (`gw start`, GATEWAY_BUS=kafka) and its
 * broker — no RST, no FIN: a firewall or NAT that dropped its state — for 10 s, seen from the
 * ingress: HTTPS requests with a system's client certificate, a real broker, a real push receiver.
 *
 * The process's broker connections all go through blackhole.ts's forwarder: the broker is one of
 * this file's own that advertises a relay of this process (support/relayed-kafka.ts), so the
 * gateway's bootstrap and every connection it takes from metadata pass relay → forwarder → broker.
 *
 * While the path is black, a request must get a 503 problem (GW_ERR_BUS_UNAVAILABLE) within the
 * publish timeout, never a 202 for something the broker never saw. After the heal the ingress must
 * accept again and delivery must resume within seconds — what kafka-bus.ts's answer watchdog is
 * for: without it, kafkajs keeps retrying on the connections that went dead and the process stays
 * stuck far longer. At the end every 202 was delivered exactly once, no 503 is `accepted` in the
 * audit log, and the exported log verifies offline.
 *
 * A 503 after the publish timeout means "maybe published" (kafka-bus.ts): a produce request still
 * retried when the path heals reaches the broker, and its message is delivered although the sender
 * was refused. Once the bus has given up on every failed publish, the gateway checks the records
 * past its ingress audit bookmark and writes the entries of those that landed
 * (ingress-audit-recovery.ts): every delivered message is `accepted` exactly once in the trail. Then
 * each refused message is sent again, as a sender does after a 503: one that landed is refused as
 * already accepted (409), the others are accepted now, and each arrives exactly once.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually, pushContracts, TEST_PASSPHRASE } from '../support/gateway.ts';
import { type PushReceiver, startPushReceiver } from '../support/push-receiver.ts';
import { type Blackhole, blackholeBroker } from './support/blackhole.ts';
import { freePort, type GwServer, runGw, startGw } from './support/gw-process.ts';
import { type RelayedKafka, relayedKafka } from './support/relayed-kafka.ts';
import { removeScratchDirs, scratchDir } from './support/scratch.ts';

const PUBLISH_TIMEOUT_MS = 2000;
/** What a refusal may take beyond the publish timeout: the ingress's own work and the HTTP round trip. */
const REFUSAL_MARGIN_MS = 1500;
const BLACK_MS = 10_000;
/** Delivery and acceptance must be back this soon after the heal (the watchdog's period is 10 s). */
const RESUME_BOUND_MS = 10_000;
const SENDERS = 2;
const PAUSE_MS = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Outcome {
  id: string;
  body: string;
  status: number | 'transport';
  contentType?: string;
  code?: string;
  detail?: string;
  startedAt: number;
  endedAt: number;
}

afterAll(removeScratchDirs);

describe('the ingress across a silent partition from Kafka', () => {
  const dataDir = scratchDir('ingress-blackhole');
  const receipts: { messageId: string; at: number }[] = [];
  let kafka: RelayedKafka | undefined;
  let hole: Blackhole | undefined;
  let receiver: PushReceiver | undefined;
  let gw: GwServer | undefined;
  let client: SystemClient | undefined;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    kafka = await relayedKafka();
    hole = await blackholeBroker(kafka.listener);
    receiver = await startPushReceiver(dataDir, (request) => {
      receipts.push({ messageId: request.messageId, at: Date.now() });
      return 204;
    });
    // Only this file's broker and SQLite, whatever the run's environment names.
    const { DATABASE_URL, DATABASE_SCHEMA, GATEWAY_BUS, KAFKA_BROKERS, KAFKA_TOPIC_PREFIX, ...inherited } =
      process.env;
    env = {
      ...inherited,
      GATEWAY_DATA_DIR: dataDir,
      GATEWAY_CONTRACTS_DIR: pushContracts({ 'st-melde': receiver.url }, scratchDir('contracts')),
      GATEWAY_PORT: String(await freePort()),
      GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
      GATEWAY_LOG_LEVEL: 'warn',
      GATEWAY_BUS: 'kafka',
      GATEWAY_BUS_PARTITIONS: '4',
      GATEWAY_REDELIVERY_DELAY_MS: '200',
      KAFKA_BROKERS: kafka.brokers,
      KAFKA_TOPIC_PREFIX: 'blackhole',
      KAFKA_PUBLISH_TIMEOUT_MS: String(PUBLISH_TIMEOUT_MS),
      // The test reads the publishes in doubt from /metrics without a scraper token.
      GATEWAY_METRICS_ACCESS: 'public',
    };
    gw = await startGw(env);
    client = SystemClient.forSystem(gw.url, dataDir, 'sn-melde', { connections: SENDERS });
  }, 300_000); // a broker started twice and a `gw start`: ~25 s here, minutes on a saturated machine

  afterAll(async () => {
    await client?.close();
    await gw?.kill9();
    await receiver?.close();
    await hole?.restore();
    await kafka?.destroy();
  }, 60_000);

  it('refuses with 503 while the path is black, accepts and delivers again within seconds of the heal, loses and duplicates nothing', async () => {
    const t0 = Date.now();
    const outcomes: Outcome[] = [];
    let sending = true;

    const send = async (m: { id: string; body: string } = rueckmeldung()): Promise<Outcome> => {
      const startedAt = Date.now();
      try {
        const r = await client!.send('sn-melde', m.body, 'application/json');
        const body = r.body as { code?: string; detail?: string };
        return {
          ...m,
          status: r.status,
          contentType: String(r.headers['content-type']),
          code: body.code,
          detail: body.detail,
          startedAt,
          endedAt: Date.now(),
        };
      } catch (error) {
        const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
        return { ...m, status: 'transport', code: String(cause), startedAt, endedAt: Date.now() };
      }
    };
    const senders = Array.from({ length: SENDERS }, async () => {
      while (sending) {
        outcomes.push(await send());
        await sleep(PAUSE_MS);
      }
    });
    const received = () => new Set(receipts.map((r) => r.messageId));
    const allReceived = (ids: Set<string>, what: string) =>
      eventually(
        async () => {
          const got = received();
          return [...ids].every((id) => got.has(id)) ? true : undefined;
        },
        30_000,
        what,
      );
    const acceptedAfter = (at: number) => outcomes.filter((o) => o.status === 202 && o.startedAt > at);

    try {
      // Steady state: accepted and delivered through relay, forwarder and broker.
      await eventually(async () => (received().size >= 10 ? true : undefined), 30_000, 'ten deliveries');

      hole!.blackhole();
      const blackAt = Date.now();
      // The partition's length is the scenario itself, not a wait for something.
      await sleep(BLACK_MS);
      hole!.heal();
      const healedAt = Date.now();

      // Acceptance and delivery resume: a message sent after the heal is accepted and arrives.
      const firstNew = await eventually(
        async () => {
          const got = received();
          return acceptedAfter(healedAt).find((o) => got.has(o.id));
        },
        30_000,
        'a message sent after the heal accepted and delivered',
      );
      const firstNewDeliveredAt = receipts.find((r) => r.messageId === firstNew.id)!.at;
      const firstReceiptAfterHeal = receipts.find((r) => r.at > healedAt)!.at;
      const firstAcceptedAfterHeal = Math.min(...acceptedAfter(healedAt).map((o) => o.endedAt));
      // A few more through the healed path, then the stream stops.
      await eventually(
        async () => (acceptedAfter(healedAt).length >= 10 ? true : undefined),
        20_000,
        'ten acceptances after the heal',
      );
      sending = false;
      await Promise.all(senders);

      const accepted = outcomes.filter((o) => o.status === 202);
      const refused = outcomes.filter((o) => o.status !== 202);
      const acceptedIds = new Set(accepted.map((o) => o.id));
      await allReceived(acceptedIds, 'every accepted message at the receiver');
      // The failed publishes have settled and the records past the bookmark were checked: nothing
      // refused can land any more, and what landed is in the trail.
      const inDoubtSeen: number[] = [];
      await eventually(
        async () => {
          const metrics = String((await client!.call<string>('GET', '/metrics')).body);
          const inDoubt = Number(/^gateway_ingress_publishes_in_doubt (\d+)/m.exec(metrics)?.[1]);
          inDoubtSeen.push(inDoubt);
          return inDoubt === 0 ? true : undefined;
        },
        60_000,
        'no publish in doubt any more',
      );
      const landed = new Set(refused.filter((o) => received().has(o.id)).map((o) => o.id));
      // What a sender does after a 503 (retry-after): the same message again.
      const resends: Outcome[] = [];
      for (const o of refused) resends.push(await send(o));
      const resentIds = new Set(resends.filter((o) => o.status === 202).map((o) => o.id));
      await allReceived(resentIds, 'every resent message at the receiver');
      const allDeliveredAt = Math.max(...accepted.map((o) => receipts.find((r) => r.messageId === o.id)!.at));
      // A straggling duplicate push would arrive now.
      await sleep(1000);
      expect(await gw!.stop()).toBe(0);

      // The exported audit log verifies offline; what it says was accepted and delivered.
      const exported = await runGw(['audit', 'export'], env);
      expect(exported.code, exported.stderr).toBe(0);
      const exportFile = path.join(dataDir, 'audit-export.jsonl');
      writeFileSync(exportFile, exported.stdout);
      const verified = await runGw(
        ['audit', 'verify', exportFile, '--checkpoint-key', path.join(dataDir, 'pki', 'audit.pub')],
        env,
      );
      expect(verified.code, `${verified.stdout}\n${verified.stderr}`).toBe(0);
      expect(verified.stdout).toMatch(/^OK: /);
      const audited = { accepted: new Map<string, number>(), delivered: new Map<string, number>() };
      /** When each message's `accepted` entries were written. */
      const acceptedTimes = new Map<string, number[]>();
      /** Messages whose `accepted` was written from their bus record. */
      const recoveredFromBus = new Set<string>();
      for (const line of exported.stdout.split('\n')) {
        if (!line.startsWith('{"type":"entry"')) continue;
        const raw = (JSON.parse(line) as { entry: unknown }).entry;
        const entry = (typeof raw === 'string' ? JSON.parse(raw) : raw) as {
          kind: string;
          messageId: string | null;
          time: string;
          detail?: { recoveredFrom?: string };
        };
        if (entry.kind === 'accepted' && entry.messageId && entry.detail?.recoveredFrom === 'bus')
          recoveredFromBus.add(entry.messageId);
        if ((entry.kind === 'accepted' || entry.kind === 'delivered') && entry.messageId) {
          const counts = audited[entry.kind];
          counts.set(entry.messageId, (counts.get(entry.messageId) ?? 0) + 1);
        }
        if (entry.kind === 'accepted' && entry.messageId) {
          acceptedTimes.set(entry.messageId, [
            ...(acceptedTimes.get(entry.messageId) ?? []),
            Date.parse(entry.time),
          ]);
        }
      }

      const receivedCount = new Map<string, number>();
      for (const r of receipts) receivedCount.set(r.messageId, (receivedCount.get(r.messageId) ?? 0) + 1);
      /** Sent while the path was black and answered before it healed: no broker could have confirmed them. */
      const duringBlack = outcomes.filter((o) => o.startedAt >= blackAt && o.endedAt <= healedAt);
      const slowestRefusal = Math.max(0, ...refused.map((o) => o.endedAt - o.startedAt));
      const report = {
        blackMs: healedAt - blackAt,
        sent: outcomes.length,
        accepted: accepted.length,
        refused: refused.length,
        refusedDuringBlack: duringBlack.length,
        refusals: [...new Set(refused.map((o) => `${o.status} ${o.code}`))],
        slowestRefusalMs: slowestRefusal,
        firstAcceptedAfterHealMs: firstAcceptedAfterHeal - healedAt,
        firstDeliveryAfterHealMs: firstReceiptAfterHeal - healedAt,
        firstNewMessageDeliveredAfterHealMs: firstNewDeliveredAt - healedAt,
        allAcceptedDeliveredAfterHealMs: allDeliveredAt - healedAt,
        refusedButLanded: landed.size,
        publishesInDoubtSeen: [...new Set(inDoubtSeen)],
        resends: [...new Set(resends.map((o) => `${o.status}${o.code ? ` ${o.code}` : ''}`))],
        connectionsThroughForwarder: hole!.connections,
        testMs: Date.now() - t0,
      };
      process.stderr.write(`ingress-blackhole: ${JSON.stringify(report)}\n`);

      // During the partition: refused, as a problem with the stable code, within the publish timeout.
      expect(duringBlack.length).toBeGreaterThanOrEqual(SENDERS * 2);
      for (const o of duringBlack) {
        expect(o.status, `${o.id} sent at +${o.startedAt - blackAt} ms into the partition: ${o.detail}`).toBe(
          503,
        );
      }
      for (const o of refused) {
        expect(o.status, `${o.id}: ${o.code}`).toBe(503);
        expect(o.contentType).toContain('application/problem+json');
        expect(o.code).toBe('GW_ERR_BUS_UNAVAILABLE');
        expect(o.endedAt - o.startedAt, o.id).toBeLessThanOrEqual(PUBLISH_TIMEOUT_MS + REFUSAL_MARGIN_MS);
      }
      // After the heal: accepted and delivered again within the bound.
      expect(firstAcceptedAfterHeal - healedAt).toBeLessThan(RESUME_BOUND_MS);
      expect(firstReceiptAfterHeal - healedAt).toBeLessThan(RESUME_BOUND_MS);
      expect(firstNewDeliveredAt - healedAt).toBeLessThan(RESUME_BOUND_MS);
      expect(allDeliveredAt - healedAt).toBeLessThan(RESUME_BOUND_MS + 5000);

      // Every message that arrived was pushed once and is in the trail once as accepted and once as
      // delivered: each 202 (first answer or resend), and each refused message that landed all the
      // same, whose entries came from its bus record.
      for (const id of new Set([...acceptedIds, ...resentIds, ...landed])) {
        expect(receivedCount.get(id), `${id} pushes`).toBe(1);
        expect(audited.accepted.get(id), `${id} accepted entries`).toBe(1);
        expect(audited.delivered.get(id), `${id} delivered entries`).toBe(1);
      }
      for (const id of landed)
        expect(recoveredFromBus.has(id), `${id} accepted from its bus record`).toBe(true);
      // The resends: one that landed is refused as already accepted; any other is accepted now, and
      // its one `accepted` entry is the resend's.
      for (const o of resends) {
        expect(acceptedIds.has(o.id)).toBe(false);
        if (landed.has(o.id)) {
          expect(o.status, `${o.id} landed before its resend`).toBe(409);
          expect(o.code).toBe('GW_ERR_DUPLICATE_MESSAGE');
          continue;
        }
        expect(o.status, `${o.id} resent after a 503: ${o.code ?? ''}`).toBe(202);
        for (const at of acceptedTimes.get(o.id) ?? []) {
          expect(at, `${o.id} audited as accepted before its resend`).toBeGreaterThanOrEqual(o.startedAt);
        }
      }
      // Nothing arrived that was not sent.
      const sentIds = new Set(outcomes.map((o) => o.id));
      expect([...receivedCount.keys()].filter((id) => !sentIds.has(id))).toEqual([]);
    } finally {
      sending = false;
      await Promise.all(senders);
    }
  }, 240_000);
});
