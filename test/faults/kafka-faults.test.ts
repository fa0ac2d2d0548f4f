/**
 * Fault injection (issue 9): two `gw start` processes on a Kafka broker and a PostgreSQL cluster of
 * this test's own (audit log, mailbox and delivery ledger in PostgreSQL via DATABASE_URL), pushing
 * to a real HTTPS receiver. While a stream of messages of all three domains flows — several cases,
 * several messages per case, each case sent in order — the test
 *
 *   1. SIGKILLs gateway A and starts it again,
 *   2. stops the broker for 10 s,
 *   3. crashes PostgreSQL (`pg_ctl stop -m immediate`) and starts it again,
 *   4. makes the receiver answer 503 for a while,
 *   5. SIGKILLs gateway B and starts it again.
 *
 * Then every request that did not get a 202 is sent again (as a sender does when it got an error or
 * no answer), and the test checks what the receiver got: every accepted message exactly once, none
 * lost, in order per case; every refusal was an answer with a problem code (or, only for requests in
 * flight to a process at the moment it was killed, a broken connection); the exported audit log
 * verifies offline and holds a `delivered` event for every accepted message.
 *
 * The one duplicate no gateway can rule out: a push whose 2xx reached a process that was killed
 * before it wrote its delivery ledger row is pushed again by the next owner of the partition (issue
 * 3's closing note). Such duplicates are tolerated only in that exact window — first received just
 * before a kill, at most one per partition the killed process had in flight — and the receiver's
 * x-nachrichten-uuid dedupe makes them effectively once; everything else must be a raw exactly-once.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { freePort, type GwServer, runGw, startGw } from '../kafka/support/gw-process.ts';
import { removeScratchDirs, scratchDir } from '../kafka/support/scratch.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually, pushContracts, TEST_PASSPHRASE } from '../support/gateway.ts';
import { type PrivateKafka, privateKafka } from '../support/private-kafka.ts';
import { type PrivatePostgres, startPrivatePostgres } from '../support/private-postgres.ts';
import { type PushReceiver, startPushReceiver } from '../support/push-receiver.ts';

const MESSAGES_PER_CASE = 4;
const LOOPS_PER_DOMAIN = 2;
const OUTAGE_MS = 10_000;
const RECEIVER_FAILURE_MS = 5_000;
/** GATEWAY_BUS_PARTITIONS: at most this many pushes in flight per destination and process. */
const PARTITIONS = 4;
const DESTINATIONS = 3;

type Domain = 'melde' | 'kfz' | 'elterngeld';

interface Message {
  id: string;
  caseId: string;
  seq: number;
  domain: Domain;
  system: string;
  body: string;
}

interface Outcome extends Message {
  status: number | 'transport';
  code?: string;
  retryAfter?: string;
  gateway: 'a' | 'b';
  startedAt: number;
  endedAt: number;
}

const fixture = (adapter: string, file: string) =>
  readFileSync(path.join(REPO_ROOT, 'adapters', adapter, 'fixtures', file), 'utf8');
const KFZ = fixture('st-kfz', '1001-zulassung-firmenwagen-halle.native.json');
const ELTERNGELD = fixture('elterngeld-online', '0101-antrag-leipzig.native.json');

/** Message `seq` of case `caseId`: its referenzUUID is the case, so the case keeps one partition. */
function message(domain: Domain, caseId: string, seq: number): Message {
  const id = randomUUID();
  if (domain === 'melde') {
    const m = rueckmeldung((d) => {
      d.vorgang.id = id;
      d.vorgang.bezugId = caseId;
    });
    return { id, caseId, seq, domain, system: 'sn-melde', body: m.body };
  }
  if (domain === 'kfz') {
    const doc = JSON.parse(KFZ);
    doc.vorgangsId = id;
    doc.bezugsId = caseId;
    return { id, caseId, seq, domain, system: 'st-kfz', body: JSON.stringify(doc) };
  }
  const doc = JSON.parse(ELTERNGELD);
  doc.antragsId = id;
  doc.bezugsId = caseId;
  return { id, caseId, seq, domain, system: 'elterngeld-online', body: JSON.stringify(doc) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterAll(removeScratchDirs);

describe('faults while a stream flows: SIGKILL ×2, broker away 10 s, PostgreSQL crash, receiver 503', () => {
  const dataDir = scratchDir('faults');
  let kafka: PrivateKafka;
  let postgres: PrivatePostgres;
  let receiver: PushReceiver;
  let failing = false;
  /** Successful receptions (2xx answered), in order; 503-answered attempts are not receptions. */
  const receipts: { messageId: string; at: number }[] = [];
  let refusedByReceiver = 0;
  const ports = { a: 0, b: 0 };
  const gateways: Partial<Record<'a' | 'b', GwServer>> = {};
  const clients = new Map<string, SystemClient>();
  let env: (name: 'a' | 'b') => NodeJS.ProcessEnv;

  beforeAll(async () => {
    kafka = await privateKafka();
    [postgres] = await Promise.all([startPrivatePostgres(), kafka.start()]);
    receiver = await startPushReceiver(dataDir, (request) => {
      if (failing) {
        refusedByReceiver++;
        return 503;
      }
      receipts.push({ messageId: request.messageId, at: Date.now() });
      return 204;
    });
    const contractsDir = pushContracts(
      { 'st-melde': receiver.url, 'kba-zfzr': receiver.url, 'sn-elterngeld': receiver.url },
      scratchDir('contracts'),
    );
    ports.a = await freePort();
    ports.b = await freePort();
    env = (name) => ({
      ...process.env,
      GATEWAY_DATA_DIR: dataDir,
      GATEWAY_CONTRACTS_DIR: contractsDir,
      GATEWAY_PORT: String(ports[name]),
      GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
      GATEWAY_LOG_LEVEL: 'warn',
      GATEWAY_BUS: 'kafka',
      KAFKA_BROKERS: kafka.brokers,
      KAFKA_TOPIC_PREFIX: 'faults',
      KAFKA_PUBLISH_TIMEOUT_MS: '2000',
      GATEWAY_BUS_PARTITIONS: String(PARTITIONS),
      GATEWAY_RETRY_BASE_DELAY_MS: '300',
      GATEWAY_RETRY_MAX_DELAY_MS: '2000',
      GATEWAY_REDELIVERY_DELAY_MS: '200',
      DATABASE_URL: postgres.url,
      GATEWAY_AUDIT_CHAIN: `gw-${name}`,
    });
    // One after the other: the first runs the migrations.
    gateways.a = await startGw(env('a'));
    gateways.b = await startGw(env('b'));
  }, 300_000); // a broker start alone: 10 s here, minutes on a saturated machine

  afterAll(async () => {
    await Promise.all([...clients.values()].map((c) => c.close()));
    await Promise.all(Object.values(gateways).map((g) => g?.stop()));
    await receiver?.close();
    await kafka?.destroy();
    await postgres?.destroy();
  }, 120_000);

  function client(gateway: 'a' | 'b', system: string): SystemClient {
    const key = `${gateway}/${system}`;
    if (!clients.has(key)) {
      clients.set(
        key,
        SystemClient.forSystem(`https://127.0.0.1:${ports[gateway]}`, dataDir, system, { connections: 2 }),
      );
    }
    return clients.get(key)!;
  }

  it('loses nothing, duplicates nothing, keeps each case in order and accounts for everything in the audit log', async () => {
    const outcomes: Outcome[] = [];
    const up = { a: true, b: true };
    const kills: { gateway: 'a' | 'b'; at: number }[] = [];
    let next = 0;
    let streaming = true;

    const send = async (m: Message, prefer?: 'a' | 'b'): Promise<Outcome> => {
      const choice: 'a' | 'b' = prefer ?? (next++ % 2 === 0 ? 'a' : 'b');
      const gateway = up[choice] ? choice : choice === 'a' ? 'b' : 'a';
      const startedAt = Date.now();
      let r: Awaited<ReturnType<SystemClient['send']>>;
      try {
        r = await client(gateway, m.system).send(m.system, m.body, 'application/json');
      } catch (error) {
        const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
        return { ...m, status: 'transport', code: String(cause), gateway, startedAt, endedAt: Date.now() };
      }
      const body = r.body as { code?: string };
      if (r.status !== 202) {
        expect(String(r.headers['content-type']), `${m.id}: ${r.status}`).toContain(
          'application/problem+json',
        );
        expect(body.code, `${m.id}: ${r.status}`).toMatch(/^GW_ERR_/);
      }
      const retryAfter = r.headers['retry-after'] as string | undefined;
      return { ...m, status: r.status, code: body.code, retryAfter, gateway, startedAt, endedAt: Date.now() };
    };

    const loop = async (domain: Domain) => {
      while (streaming) {
        const caseId = randomUUID();
        for (let seq = 0; seq < MESSAGES_PER_CASE && streaming; seq++) {
          outcomes.push(await send(message(domain, caseId, seq)));
          await sleep(30);
        }
      }
    };
    const domains: Domain[] = ['melde', 'kfz', 'elterngeld'];
    const loops = domains.flatMap((d) => Array.from({ length: LOOPS_PER_DOMAIN }, () => loop(d)));
    const acceptedAfter = (t: number, what: string) =>
      eventually(
        async () => (outcomes.some((o) => o.startedAt > t && o.status === 202) ? true : undefined),
        90_000,
        `a 202 after ${what}`,
      );
    const timeline: string[] = [];
    const t0 = Date.now();
    const retired: GwServer[] = [];
    const mark = (what: string) => timeline.push(`${new Date().toISOString().slice(11, 23)} ${what}`);

    const killAndRestart = async (name: 'a' | 'b') => {
      up[name] = false;
      kills.push({ gateway: name, at: Date.now() });
      retired.push(gateways[name]!);
      await gateways[name]!.kill9();
      mark(`gateway ${name} SIGKILLed`);
      gateways[name] = await startGw(env(name));
      up[name] = true;
      mark(`gateway ${name} ready again`);
    };

    await sleep(3_000);
    await killAndRestart('a');
    await acceptedAfter(Date.now(), 'gateway a restarted');

    await kafka.stop();
    mark('broker stopped');
    await sleep(OUTAGE_MS);
    await kafka.start();
    mark('broker started');
    await acceptedAfter(Date.now(), 'the broker is back');

    await postgres.crash();
    mark('PostgreSQL crashed (stop -m immediate)');
    await sleep(1_000);
    await postgres.start();
    mark('PostgreSQL started');
    await acceptedAfter(Date.now(), 'PostgreSQL is back');

    failing = true;
    mark('receiver answers 503');
    // At least RECEIVER_FAILURE_MS, and until pushes have really been refused (delivery may still
    // be catching up after the outages).
    await sleep(RECEIVER_FAILURE_MS);
    await eventually(
      async () => (refusedByReceiver >= 20 ? true : undefined),
      60_000,
      'pushes refused with 503',
    );
    failing = false;
    mark('receiver answers 204');

    await killAndRestart('b');
    await acceptedAfter(Date.now(), 'gateway b restarted');
    await sleep(2_000);
    streaming = false;
    await Promise.all(loops);
    mark('stream stopped');

    // No process died but the ones this test killed (a crash would show up as "lost" or as
    // broken connections; say what it was instead).
    for (const name of ['a', 'b'] as const) {
      const g = gateways[name]!;
      expect(
        g.child.exitCode === null && g.child.signalCode === null,
        `gateway ${name} exited by itself (${g.child.exitCode ?? g.child.signalCode}):\n${g.output().slice(-3000)}`,
      ).toBe(true);
    }

    const sent = outcomes.length;
    const accepted = outcomes.filter((o) => o.status === 202);
    const refused = outcomes.filter((o) => o.status !== 202);
    // No silent loss: a request without a 202 got a problem answer (checked in send()) or lost its
    // connection — the latter only when it was in flight to a process at the moment it was killed.
    const strayTransport = refused.filter(
      (o) =>
        o.status === 'transport' &&
        !kills.some((k) => k.gateway === o.gateway && o.startedAt <= k.at + 1_000 && o.endedAt >= k.at - 100),
    );
    // Every answer without a 202 says "retry later": 503 + Retry-After, with the bus or a store
    // (PostgreSQL) as the reason — never a 500, which would blame the gateway for an outage. Two of
    // them come from PostgreSQL's crash: AUDIT_PENDING (published, its audit entries spooled until the
    // store takes them: the resend gets 409) and MESSAGE_ID_IN_FLIGHT (the replay claim of a request
    // still in flight could not be settled: nothing was accepted, the resend gets 202).
    const answered = refused.filter((o) => o.status !== 'transport');
    const internal = [...retired, ...Object.values(gateways)]
      .flatMap((g) => g!.output().split('\n'))
      .filter((line) => line.includes('internal error'))
      .map((line) => (/"message":"([^"]*)"/.exec(line)?.[1] ?? line).slice(0, 200));
    const notRetryLater = answered.filter(
      (o) =>
        o.status !== 503 ||
        !o.retryAfter ||
        ![
          'GW_ERR_BUS_UNAVAILABLE',
          'GW_ERR_NOT_READY',
          'GW_ERR_AUDIT_PENDING',
          'GW_ERR_MESSAGE_ID_IN_FLIGHT',
        ].includes(o.code ?? ''),
    );
    // A sender that got no 202 sends again; now that everything is up, the gateway takes it
    // (202), or says it already has it (409: the first attempt was accepted, its answer lost).
    const resent: Outcome[] = [];
    for (const o of refused) {
      const again = await send(o);
      expect([202, 409], `${o.id} sent again: ${again.status} ${again.code ?? ''}`).toContain(again.status);
      resent.push(again);
    }
    const expected = new Set([...accepted, ...refused].map((o) => o.id));

    await eventually(
      async () => {
        const got = new Set(receipts.map((r) => r.messageId));
        return [...expected].every((id) => got.has(id)) ? true : undefined;
      },
      120_000,
      'every accepted message at the receiver',
    );
    await sleep(2_000); // a straggling duplicate would arrive now
    mark('all delivered');

    const counts = new Map<string, number>();
    for (const r of receipts) counts.set(r.messageId, (counts.get(r.messageId) ?? 0) + 1);
    const duplicates = [...counts].filter(([, n]) => n > 1);
    const lost = [...expected].filter((id) => !counts.has(id));
    const unexpected = [...counts.keys()].filter((id) => !expected.has(id));

    // Exported audit log: verifies offline and has a `delivered` event for every accepted message.
    const exportFile = path.join(dataDir, 'audit-export.jsonl');
    const exported = await runGw(['audit', 'export'], env('a'));
    expect(exported.code, exported.stderr).toBe(0);
    writeFileSync(exportFile, exported.stdout);
    const verified = await runGw(
      ['audit', 'verify', exportFile, '--checkpoint-key', path.join(dataDir, 'pki', 'audit.pub')],
      env('a'),
    );
    expect(verified.code, `${verified.stdout}\n${verified.stderr}`).toBe(0);
    expect(verified.stdout).toMatch(/^OK: /);
    const deliveredEvents = new Map<string, number>();
    /** Every `delivered` entry as exported, by messageId: what a double says about its writers. */
    const deliveredEntries = new Map<string, unknown[]>();
    for (const line of exported.stdout.split('\n')) {
      if (!line.startsWith('{"type":"entry"')) continue;
      const raw = (JSON.parse(line) as { entry: unknown }).entry;
      const entry = (typeof raw === 'string' ? JSON.parse(raw) : raw) as {
        kind: string;
        messageId: string | null;
      };
      if (entry.kind === 'delivered' && entry.messageId) {
        deliveredEvents.set(entry.messageId, (deliveredEvents.get(entry.messageId) ?? 0) + 1);
        deliveredEntries.set(entry.messageId, [...(deliveredEntries.get(entry.messageId) ?? []), entry]);
      }
    }
    const unaudited = [...expected].filter((id) => !deliveredEvents.has(id));
    const doublyAudited = [...deliveredEvents].filter(([, n]) => n > 1).map(([id]) => id);
    const auditedTwice = doublyAudited.length;

    // In order per case: the messages of a case that were accepted in the first attempt, in send
    // order, arrive in that order (first receptions).
    const firstReception = new Map<string, number>();
    receipts.forEach((r, i) => {
      if (!firstReception.has(r.messageId)) firstReception.set(r.messageId, i);
    });
    const byCase = new Map<string, Outcome[]>();
    for (const o of accepted) byCase.set(o.caseId, [...(byCase.get(o.caseId) ?? []), o]);
    const outOfOrder: string[] = [];
    for (const [caseId, list] of byCase) {
      const order = list.sort((x, y) => x.seq - y.seq).map((o) => firstReception.get(o.id) ?? -1);
      if (order.some((v, i) => i > 0 && v < order[i - 1]!)) outOfOrder.push(`${caseId} (${list[0]!.domain})`);
    }

    const row = (k: string, v: string | number) => `| ${k.padEnd(44)} | ${String(v).padStart(8)} |`;
    const byStatus = new Map<string, number>();
    for (const o of refused) {
      const key = `${o.status}${o.code ? ` ${o.code}` : ''}`;
      byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
    }
    process.stderr.write(
      [
        '',
        'fault suite timeline:',
        ...timeline.map((t) => `  ${t}`),
        `| ${'figure'.padEnd(44)} | ${'count'.padStart(8)} |`,
        `|${'-'.repeat(46)}|${'-'.repeat(10)}|`,
        row('sent (first attempts)', sent),
        row('accepted (202 on the first attempt)', accepted.length),
        ...[...byStatus].map(([k, n]) => row(`  refused: ${k}`, n)),
        row('sent again after a refusal', resent.length),
        row(
          '  of those 202 / 409 already accepted',
          `${resent.filter((o) => o.status === 202).length} / ${resent.filter((o) => o.status === 409).length}`,
        ),
        row('cases', new Set(outcomes.map((o) => o.caseId)).size),
        row('receiver: 503 answers during its failure', refusedByReceiver),
        row('receiver: receptions (2xx)', receipts.length),
        row('delivered (unique message ids)', counts.size),
        row('duplicates (raw, before x-nachrichten-uuid dedupe)', duplicates.length),
        row('lost', lost.length),
        row('delivered but never sent', unexpected.length),
        row('refusals other than 503 + Retry-After', notRetryLater.length),
        row('broken connections outside a SIGKILL', strayTransport.length),
        row('cases out of order', outOfOrder.length),
        row('audit: accepted messages without `delivered`', unaudited.length),
        row('audit: messages with 2+ `delivered` events', auditedTwice),
        // Receipts (the gateway's own messages, never sent by this test) count too: name them apart.
        row('  of those receipts', doublyAudited.filter((id) => !expected.has(id)).length),
        '',
      ].join('\n'),
    );

    expect(sent).toBeGreaterThan(50);
    expect(refusedByReceiver).toBeGreaterThanOrEqual(20);
    expect(accepted.length).toBeGreaterThan(0);
    expect(lost).toEqual([]);
    expect(
      strayTransport.map((o) => `${o.code} from gateway ${o.gateway} at +${o.startedAt - t0} ms`),
      `kills at ${JSON.stringify(kills.map((k) => ({ ...k, at: `+${k.at - t0} ms` })))}`,
    ).toEqual([]);
    expect(
      notRetryLater.length,
      `internal errors logged: ${JSON.stringify([...new Set(internal)].slice(0, 5))}`,
    ).toBe(0);
    expect(unexpected).toEqual([]);
    // Raw duplicates only in the SIGKILL window: first received shortly before a kill, pushed twice,
    // no more than one per partition per destination the killed process could have had in flight.
    for (const [id] of duplicates) {
      const first = receipts.find((r) => r.messageId === id)!.at;
      expect(
        // A push already on the wire when the process died is taken by the receiver a moment after.
        kills.some((k) => first <= k.at + 1_000 && first >= k.at - 2_000),
        `${id} received ${counts.get(id)} times, first at ${first}, outside a SIGKILL window`,
      ).toBe(true);
      expect(counts.get(id)).toBe(2);
      // …and the killed process never recorded it: one `delivered` event, the survivor's.
      expect(deliveredEvents.get(id)).toBe(1);
    }
    expect(duplicates.length).toBeLessThanOrEqual(kills.length * PARTITIONS * DESTINATIONS);
    // Effectively once: deduplicated by x-nachrichten-uuid, each expected message exactly once.
    expect(counts.size).toBe(expected.size);
    expect(unaudited).toEqual([]);
    expect(
      auditedTwice,
      `messages with two or more delivered events: ${JSON.stringify(doublyAudited.map((id) => deliveredEntries.get(id)))}`,
    ).toBe(0);
    expect(outOfOrder).toEqual([]);
  }, 600_000);
});
