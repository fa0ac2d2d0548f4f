/**
 * Invariant 1 (nothing accepted is lost) for the default deployment: one `gw start` process as
 * `npm start` runs it (SQLite bus, SQLite audit log, no Kafka, no PostgreSQL), killed with SIGKILL
 * twice while a stream of messages is in flight, and started again on the same data directory.
 *
 * Three senders (sn-melde, st-kfz, elterngeld-online), two concurrent loops each, send cases of
 * several messages with real client certificates; st-melde takes its messages by push (a real HTTPS
 * receiver that checks the gateway's client certificate), kba-zfzr and sn-elterngeld from their pull
 * inboxes. A sender sends the next message of a case only once the previous one was accepted, and
 * sends a message again, with the same nachrichtenUUID, until it gets a 202 or a 409 (already
 * accepted: the answer to an earlier attempt was lost) — whatever else it got in between (a broken
 * connection, a refused one while the process is down, a 503 with Retry-After).
 *
 * At the end every accepted message reached its receiver exactly once (counted by
 * x-nachrichten-uuid and raw at the push receiver, drained and acknowledged through the inbox API
 * for pull), each case in order, nothing else arrived; `gw audit export | gw audit verify -` exits 0
 * and the trail has one `accepted` and one `delivered` entry per accepted message.
 *
 * The one raw duplicate no gateway can rule out (gateway/pipeline/delivery.ts, recordPushed): a push
 * the receiver took while the process was killed before it wrote its delivery ledger row (the 2xx on
 * its way back, or just arrived) is pushed again after the restart. Tolerated only in that window —
 * first received just before a kill, received twice, with a single `delivered` entry — as in
 * test/faults/kafka-faults.test.ts; the receiver's dedupe by x-nachrichten-uuid makes it effectively
 * once. A pull inbox has no such window (ledger row and inbox row commit together): no duplicate.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEADER } from '../../gateway/bus/topics.ts';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { freePort, type GwServer, startGw } from '../kafka/support/gw-process.ts';
import { removeScratchDirs, scratchDir } from '../kafka/support/scratch.ts';
import { CASE_ROUTES, type CaseDomain, type CaseMessage, caseMessage } from '../support/case-messages.ts';
import { eventually, pushContracts, TEST_PASSPHRASE } from '../support/gateway.ts';
import { type PushReceiver, startPushReceiver } from '../support/push-receiver.ts';

/** First attempts over the whole run. */
const MESSAGES = 300;
const MESSAGES_PER_CASE = 4;
const LOOPS_PER_SENDER = 2;
/** Kill when this many messages have been accepted (mid-stream), and start again at once. */
const KILL_AFTER_ACCEPTED = [90, 190];
/** A sender's pause between messages, and before sending a message again. */
const PAUSE_MS = 20;
const RESEND_MS = 200;
/** How long delivery may take after the stream before what is missing counts as lost. */
const DELIVERY_WAIT_MS = 45_000;
/** `npm start`'s heap limit (package.json), passed to `gw start` through NODE_OPTIONS. */
const NPM_START_NODE_OPTIONS = '--max-old-space-size=256';

const PUSHED: CaseDomain = 'melde';
const PULLED: CaseDomain[] = ['kfz', 'elterngeld'];

interface Attempt {
  status: number | 'transport';
  /** Answered with an RFC 9457 problem (application/problem+json). */
  problem?: boolean;
  code?: string;
  retryAfter?: string;
  receiverSystem?: string;
  startedAt: number;
  endedAt: number;
}

interface Sent extends CaseMessage {
  attempts: Attempt[];
  /** The answer that settled it: 202, 409 (already accepted), or one the test does not expect. */
  settled?: Attempt;
}

interface Kill {
  at: number;
  readyAt: number;
  inFlight: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `script` through bash with pipefail, as an operator types it; resolves with the exit code and output. */
function shell(script: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-o', 'pipefail', '-c', script], { env, cwd: REPO_ROOT });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

afterAll(removeScratchDirs);

describe('embedded mode (npm start: SQLite bus and audit), SIGKILLed twice mid-stream', () => {
  const dataDir = scratchDir('embedded-crash');
  let receiver: PushReceiver;
  /** Successful receptions at the push receiver, in order. */
  const receipts: { messageId: string; at: number }[] = [];
  let gw: GwServer | undefined;
  const retired: GwServer[] = [];
  const clients = new Map<string, SystemClient>();
  let env: NodeJS.ProcessEnv;
  let port = 0;

  beforeAll(async () => {
    receiver = await startPushReceiver(dataDir, (request) => {
      receipts.push({ messageId: request.messageId, at: Date.now() });
      return 204;
    });
    const contractsDir = pushContracts(
      { [CASE_ROUTES[PUSHED].receiver]: receiver.url },
      scratchDir('contracts'),
    );
    port = await freePort();
    // The embedded default: whatever the test run's environment says about Kafka or PostgreSQL.
    const { DATABASE_URL, DATABASE_SCHEMA, GATEWAY_BUS, KAFKA_BROKERS, ...inherited } = process.env;
    env = {
      ...inherited,
      NODE_OPTIONS: [inherited.NODE_OPTIONS, NPM_START_NODE_OPTIONS].filter(Boolean).join(' '),
      GATEWAY_DATA_DIR: dataDir,
      GATEWAY_CONTRACTS_DIR: contractsDir,
      GATEWAY_PORT: String(port),
      GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
      GATEWAY_LOG_LEVEL: 'warn',
      // Checkpoints during the run, so that the kills fall between signed checkpoints.
      GATEWAY_AUDIT_CHECKPOINT_SECONDS: '2',
    };
    gw = await startGw(env);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([...clients.values()].map((c) => c.close()));
    await gw?.kill9();
    await receiver?.close();
  }, 60_000);

  function client(system: string): SystemClient {
    if (!clients.has(system)) {
      clients.set(
        system,
        SystemClient.forSystem(`https://127.0.0.1:${port}`, dataDir, system, { connections: 2 }),
      );
    }
    return clients.get(system)!;
  }

  it('loses nothing accepted, delivers each message once and in case order, and the trail verifies', async () => {
    expect(gw!.output()).toContain('(bus: sqlite,');
    const sent: Sent[] = [];
    const kills: Kill[] = [];
    let inFlight = 0;
    let accepted = 0;
    const timeline: string[] = [];
    const t0 = Date.now();
    const mark = (what: string) => timeline.push(`+${String(Date.now() - t0).padStart(6)} ms  ${what}`);

    const attempt = async (m: Sent): Promise<Attempt> => {
      const startedAt = Date.now();
      inFlight++;
      try {
        const r = await client(m.system).send(m.system, m.body, 'application/json');
        const body = r.body as { code?: string; messages?: { receiverSystem: string }[] };
        return {
          status: r.status,
          problem: String(r.headers['content-type']).startsWith('application/problem+json'),
          code: body.code,
          retryAfter: r.headers['retry-after'] as string | undefined,
          receiverSystem: body.messages?.[0]?.receiverSystem,
          startedAt,
          endedAt: Date.now(),
        };
      } catch (error) {
        const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
        return { status: 'transport', code: String(cause), startedAt, endedAt: Date.now() };
      } finally {
        inFlight--;
      }
    };

    /** Sends `m` until it is accepted (202, or 409 on a resend), or answered in a way the test does not expect. */
    const sendUntilSettled = async (m: Sent) => {
      for (;;) {
        const a = await attempt(m);
        m.attempts.push(a);
        const resend = m.attempts.length > 1;
        if (a.status === 202 || (a.status === 409 && resend && a.code === 'GW_ERR_DUPLICATE_MESSAGE')) {
          m.settled = a;
          accepted++;
          return;
        }
        const retryLater = a.status === 'transport' || (a.status === 503 && a.retryAfter !== undefined);
        if (!retryLater || m.attempts.length >= 200) {
          m.settled = a;
          return;
        }
        await sleep(RESEND_MS);
      }
    };

    let claimed = 0;
    const loop = async (domain: CaseDomain) => {
      while (claimed < MESSAGES) {
        const caseId = randomUUID();
        for (let seq = 0; seq < MESSAGES_PER_CASE && claimed < MESSAGES; seq++) {
          claimed++;
          const m: Sent = { ...caseMessage(domain, caseId, seq), attempts: [] };
          sent.push(m);
          await sendUntilSettled(m);
          // The next message of the case only after this one is accepted: the order the sender defines.
          if (m.settled?.status !== 202 && m.settled?.status !== 409) break;
          await sleep(PAUSE_MS);
        }
      }
    };

    const killAndRestart = async () => {
      await eventually(async () => (inFlight >= 2 ? true : undefined), 30_000, 'requests in flight');
      const kill: Kill = { at: Date.now(), readyAt: 0, inFlight };
      kills.push(kill);
      retired.push(gw!);
      await gw!.kill9();
      mark(`gateway SIGKILLed with ${kill.inFlight} requests in flight (${accepted} accepted so far)`);
      gw = await startGw(env);
      kill.readyAt = Date.now();
      mark('gateway ready again on the same data directory');
    };

    const domains: CaseDomain[] = [PUSHED, ...PULLED];
    mark('stream starts');
    const loops = domains.flatMap((d) => Array.from({ length: LOOPS_PER_SENDER }, () => loop(d)));
    for (const threshold of KILL_AFTER_ACCEPTED) {
      await eventually(
        async () => (accepted >= threshold ? true : undefined),
        60_000,
        `${threshold} messages accepted`,
      );
      await killAndRestart();
    }
    await Promise.all(loops);
    mark(`stream done: ${sent.length} messages`);

    // Accepted: a 202, or a 409 on a resend (an earlier attempt was accepted, its answer lost).
    const isAccepted = (m: Sent) => m.settled?.status === 202 || m.settled?.status === 409;
    const acceptedMessages = sent.filter(isAccepted);
    const acceptedIds = new Set(acceptedMessages.map((m) => m.id));
    const unsettled = sent.filter((m) => !isAccepted(m));
    const misrouted = sent.filter(
      (m) => m.settled?.status === 202 && m.settled.receiverSystem !== m.receiver,
    );

    // Delivered: pushes as the receiver took them; pull items as each inbox listed them, drained
    // through the API and acknowledged until the inboxes are empty and hold nothing more that was
    // accepted. A run that loses messages gives up after DELIVERY_WAIT_MS and reports them.
    const pushedExpected = new Set(acceptedMessages.filter((m) => m.domain === PUSHED).map((m) => m.id));
    const pulledSystems = PULLED.map((domain) => CASE_ROUTES[domain].receiver);
    const drained = new Map<string, string[]>(pulledSystems.map((system) => [system, []]));
    const ackedTwice: string[] = [];
    const drainOnce = async (system: string): Promise<number> => {
      const page = await client(system).call<{ items: { messageId: string }[] }>(
        'GET',
        `/v1/systems/${system}/inbox?limit=500`,
      );
      expect(page.status, JSON.stringify(page.body)).toBe(200);
      for (const item of page.body.items) {
        drained.get(system)!.push(item.messageId);
        const ack = await client(system).call<{ repeated: boolean }>(
          'POST',
          `/v1/systems/${system}/inbox/${item.messageId}/ack`,
        );
        expect(ack.status, JSON.stringify(ack.body)).toBe(200);
        if (ack.body.repeated) ackedTwice.push(item.messageId);
      }
      return page.body.items.length;
    };
    const undelivered = () => {
      const got = new Set([...receipts.map((r) => r.messageId), ...[...drained.values()].flat()]);
      return [...acceptedIds].filter((id) => !got.has(id));
    };
    const complete = await eventually(
      async () => {
        let listed = 0;
        for (const system of pulledSystems) listed += await drainOnce(system);
        return listed === 0 && undelivered().length === 0 ? true : undefined;
      },
      DELIVERY_WAIT_MS,
      'every accepted message delivered',
    ).catch(() => false);
    mark(
      complete
        ? 'every accepted message delivered (pushed; pulled and acknowledged)'
        : `gave up after ${DELIVERY_WAIT_MS} ms: ${undelivered().length} accepted messages not delivered`,
    );
    await sleep(2_000); // a straggling duplicate push would arrive now

    // Delivered: push receptions by x-nachrichten-uuid, pull items as the inbox listed them.
    const pushCounts = new Map<string, number>();
    for (const r of receipts) pushCounts.set(r.messageId, (pushCounts.get(r.messageId) ?? 0) + 1);
    const pullCounts = new Map<string, number>();
    for (const id of [...drained.values()].flat()) pullCounts.set(id, (pullCounts.get(id) ?? 0) + 1);
    const deliveredIds = new Set([...pushCounts.keys(), ...pullCounts.keys()]);
    const pushDuplicates = [...pushCounts].filter(([, n]) => n > 1);
    const pullDuplicates = [...pullCounts].filter(([, n]) => n > 1);
    const lost = [...acceptedIds].filter((id) => !deliveredIds.has(id));
    const neverAccepted = [...deliveredIds].filter((id) => !acceptedIds.has(id));
    const wrongReceiver = [
      ...[...pushCounts.keys()].filter((id) => sent.find((m) => m.id === id)?.domain !== PUSHED),
      ...PULLED.flatMap((domain) =>
        drained
          .get(CASE_ROUTES[domain].receiver)!
          .filter((id) => sent.find((m) => m.id === id)?.domain !== domain),
      ),
    ];

    // Per-case order: the messages of a case arrive in the order the sender had them accepted
    // (push: first receptions; pull: the inbox's order).
    const position = new Map<string, number>();
    receipts.forEach((r, i) => {
      if (!position.has(r.messageId)) position.set(r.messageId, i);
    });
    for (const order of drained.values()) {
      order.forEach((id, i) => {
        if (!position.has(id)) position.set(id, i);
      });
    }
    const byCase = new Map<string, Sent[]>();
    for (const m of acceptedMessages) byCase.set(m.caseId, [...(byCase.get(m.caseId) ?? []), m]);
    const outOfOrder: string[] = [];
    for (const [caseId, list] of byCase) {
      // A lost message is counted as lost, not as out of order.
      const order = list
        .sort((x, y) => x.seq - y.seq)
        .flatMap((m) => (position.has(m.id) ? [position.get(m.id)!] : []));
      if (order.some((v, i) => i > 0 && v < order[i - 1]!)) outOfOrder.push(`${caseId} (${list[0]!.domain})`);
    }

    // The process ran until the test stopped it; a clean stop after two crashes.
    expect(
      gw!.child.exitCode === null && gw!.child.signalCode === null,
      `gateway exited by itself:\n${gw!.output().slice(-3000)}`,
    ).toBe(true);
    const stopCode = await gw!.stop();
    retired.push(gw!);
    gw = undefined;
    mark(`gateway stopped (SIGTERM), exit code ${stopCode}`);

    // How often each message went onto the bus: twice when an attempt cut by a kill had been
    // published and the resend was published again (the delivery ledger keeps the receiver from
    // seeing it twice). Not a failure; shown so that a run says which crash windows it hit.
    const bus = new Database(path.join(dataDir, 'bus.sqlite'), { readonly: true, fileMustExist: true });
    const publications = new Map<string, number>();
    try {
      const rows = bus.prepare("SELECT headers FROM records WHERE topic LIKE '%.deliver.%'").all() as {
        headers: string;
      }[];
      for (const { headers } of rows) {
        const id = (JSON.parse(headers) as Record<string, string>)[HEADER.messageId];
        if (id && acceptedIds.has(id)) publications.set(id, (publications.get(id) ?? 0) + 1);
      }
    } finally {
      bus.close();
    }
    const publishedTwice = [...publications].filter(([, n]) => n > 1).length;

    // `gw audit export | gw audit verify -`, as an operator runs it, offline.
    const exportFile = path.join(dataDir, 'audit-export.jsonl');
    const gwCommand = `"${process.execPath}" bin/gw.js`;
    const verified = await shell(
      `${gwCommand} audit export | tee "${exportFile}" | ${gwCommand} audit verify - --checkpoint-key "${path.join(dataDir, 'pki', 'audit.pub')}"`,
      env,
    );
    mark(`audit export | verify: exit ${verified.code}`);
    const kindsByMessage = new Map<string, Map<string, number>>();
    const sentIn = new Set<string>();
    const issuedIn = new Set<string>();
    for (const line of readFileSync(exportFile, 'utf8').split('\n')) {
      if (!line.startsWith('{"type":"entry"')) continue;
      const raw = (JSON.parse(line) as { entry: unknown }).entry;
      const entry = (typeof raw === 'string' ? JSON.parse(raw) : raw) as {
        kind: string;
        actor: string;
        messageId: string | null;
      };
      if (!entry.messageId) continue;
      // The gateway's own messages (the receipts it issues for acknowledged ones) are not the senders'.
      if (entry.kind === 'accepted')
        (entry.actor.startsWith('system:') ? sentIn : issuedIn).add(entry.messageId);
      const kinds = kindsByMessage.get(entry.messageId) ?? new Map<string, number>();
      kinds.set(entry.kind, (kinds.get(entry.kind) ?? 0) + 1);
      kindsByMessage.set(entry.messageId, kinds);
    }
    const countOf = (id: string, kind: string) => kindsByMessage.get(id)?.get(kind) ?? 0;
    const acceptedNot1 = [...acceptedIds].filter((id) => countOf(id, 'accepted') !== 1);
    const deliveredNot1 = [...acceptedIds].filter((id) => countOf(id, 'delivered') !== 1);
    const acceptedEntriesUnanswered = [...sentIn].filter((id) => !acceptedIds.has(id));
    const deadLettered = [...kindsByMessage.keys()].filter((id) => countOf(id, 'dead-lettered') > 0);

    const attempts = sent.reduce((n, m) => n + m.attempts.length, 0);
    const byAnswer = new Map<string, number>();
    for (const m of sent) {
      for (const a of m.attempts.filter((a) => a.status !== 202)) {
        const code = a.code?.replace(/ [\d.]+:\d+$/, ''); // ECONNREFUSED without the address
        const key = `${a.status}${code ? ` ${code}` : ''}`;
        byAnswer.set(key, (byAnswer.get(key) ?? 0) + 1);
      }
    }
    // A broken or refused connection only for a request in flight at a kill or sent while the
    // process was down (up to a second after it was ready again: connections of the old one).
    const strayTransport = sent.flatMap((m) =>
      m.attempts.filter(
        (a) =>
          a.status === 'transport' &&
          !kills.some((k) => a.endedAt >= k.at - 100 && a.startedAt <= k.readyAt + 1_000),
      ),
    );
    const brokenByKill = sent.flatMap((m) =>
      m.attempts.filter(
        (a) => a.status === 'transport' && kills.some((k) => a.startedAt < k.at && a.endedAt >= k.at - 100),
      ),
    );
    const resent = sent.filter((m) => m.attempts.length > 1);
    // Recovery is routine: warnings (catch-ups after the restart), never an error.
    const errorLogs = retired
      .flatMap((g) => g.output().split('\n'))
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: number; msg: string; err?: { message?: string } })
      .filter((line) => line.level >= 50)
      .map((line) => `${line.msg}${line.err?.message ? `: ${line.err.message}` : ''}`.slice(0, 200));
    // Every answer but a 202 is a problem with a stable code.
    const notProblems = sent.flatMap((m) =>
      m.attempts.filter(
        (a) => a.status !== 202 && a.status !== 'transport' && !(a.problem && /^GW_ERR_/.test(a.code ?? '')),
      ),
    );

    const row = (k: string, v: string | number) => `| ${k.padEnd(52)} | ${String(v).padStart(8)} |`;
    process.stderr.write(
      [
        '',
        'embedded crash suite timeline:',
        ...timeline.map((t) => `  ${t}`),
        `| ${'figure'.padEnd(52)} | ${'count'.padStart(8)} |`,
        `|${'-'.repeat(54)}|${'-'.repeat(10)}|`,
        row('sent (messages, fresh nachrichtenUUIDs)', sent.length),
        row('  cases', byCase.size),
        row('attempts (requests)', attempts),
        ...[...byAnswer].map(([k, n]) => row(`  answered ${k}`, n)),
        row('  broken by a SIGKILL (in flight at the kill)', brokenByKill.length),
        row('resent (messages sent more than once)', resent.length),
        row('accepted (202 first time / 202 on resend / 409)', acceptedIds.size),
        row(
          '  of those',
          `${acceptedMessages.filter((m) => m.attempts.length === 1).length} / ${
            acceptedMessages.filter((m) => m.attempts.length > 1 && m.settled!.status === 202).length
          } / ${acceptedMessages.filter((m) => m.settled!.status === 409).length}`,
        ),
        row('not accepted (an unexpected answer)', unsettled.length),
        row('published on the bus 2+ times (cut attempt + resend)', publishedTwice),
        row('push: receptions (raw)', receipts.length),
        row('push: delivered (unique x-nachrichten-uuid)', pushCounts.size),
        row('push: duplicates (raw)', pushDuplicates.length),
        row('pull: listed and acknowledged', [...drained.values()].flat().length),
        row('pull: delivered (unique)', pullCounts.size),
        row('pull: duplicates', pullDuplicates.length + ackedTwice.length),
        row('delivered (unique, push + pull)', deliveredIds.size),
        row('lost (accepted, not delivered)', lost.length),
        row('delivered but never accepted', neverAccepted.length),
        row('delivered to the wrong system', wrongReceiver.length),
        row('cases out of order', outOfOrder.length),
        row('audit: accepted messages without exactly 1 `accepted`', acceptedNot1.length),
        row('audit: accepted messages without exactly 1 `delivered`', deliveredNot1.length),
        row('audit: `accepted` for a message never accepted', acceptedEntriesUnanswered.length),
        row('audit: dead-lettered', deadLettered.length),
        row('audit: receipts the gateway issued (not counted above)', issuedIn.size),
        row('broken connections outside a SIGKILL window', strayTransport.length),
        row('gateway log lines at level error or above', errorLogs.length),
        '',
      ].join('\n'),
    );

    expect(kills).toHaveLength(KILL_AFTER_ACCEPTED.length);
    expect(kills.every((k) => k.inFlight >= 2)).toBe(true);
    expect(brokenByKill.length, 'no request was cut by a kill').toBeGreaterThan(0);
    expect(sent.length).toBe(MESSAGES);
    expect(
      unsettled.map((m) => `${m.id}: ${JSON.stringify(m.settled)}`),
      'answers other than 202, 409 on a resend, 503 + Retry-After or a broken connection',
    ).toEqual([]);
    expect(misrouted.map((m) => m.id)).toEqual([]);
    expect(notProblems, 'answers without a problem+json GW_ERR_ code').toEqual([]);
    expect(
      strayTransport.map((a) => `${a.code} at +${a.startedAt - t0} ms`),
      `kills at ${JSON.stringify(kills.map((k) => ({ at: k.at - t0, ready: k.readyAt - t0 })))}`,
    ).toEqual([]);

    // Invariant 1: nothing accepted is lost, nothing unaccepted delivered.
    const logs = () =>
      retired.map((g, i) => `--- gw start #${i + 1}:\n${g.output().slice(-4000)}`).join('\n');
    expect(lost, logs()).toEqual([]);
    expect(neverAccepted).toEqual([]);
    expect(wrongReceiver).toEqual([]);
    // Effectively once: each accepted message once per x-nachrichten-uuid; raw duplicates only in
    // the window the design leaves open (see the file comment), never in a pull inbox.
    expect(pushCounts.size).toBe(pushedExpected.size);
    expect(pullDuplicates).toEqual([]);
    expect(ackedTwice).toEqual([]);
    for (const [id, n] of pushDuplicates) {
      const first = receipts.find((r) => r.messageId === id)!.at;
      expect(
        kills.some((k) => first <= k.at + 1_000 && first >= k.at - 2_000),
        `${id} pushed ${n} times, first at +${first - t0} ms, outside a SIGKILL window`,
      ).toBe(true);
      expect(n, `${id} pushed ${n} times`).toBe(2);
    }
    expect(outOfOrder).toEqual([]);

    // The trail: verifies offline from the export, one `accepted` and one `delivered` per message.
    expect(verified.code, verified.out).toBe(0);
    expect(verified.out).toMatch(/^OK: /m);
    expect(verified.out).not.toMatch(/^OK: .* 0 checkpoint\(s\)/m);
    expect(acceptedNot1.map((id) => `${id}: ${JSON.stringify([...(kindsByMessage.get(id) ?? [])])}`)).toEqual(
      [],
    );
    expect(
      deliveredNot1.map((id) => `${id}: ${JSON.stringify([...(kindsByMessage.get(id) ?? [])])}`),
    ).toEqual([]);
    expect(acceptedEntriesUnanswered).toEqual([]);
    expect(deadLettered).toEqual([]);
    expect(stopCode).toBe(0);
    expect([...new Set(errorLogs)]).toEqual([]);
  }, 240_000);
});
