/**
 * In-process A/B of two embedded-mode hot spots against an earlier tree: the SQLite bus consumer
 * (CPU and record fetches per consumed record) and the SQLite message projector (CPU, summary reads
 * and writes per projected event). Old and new run alternately in this one process, several rounds,
 * each on a fresh file; CPU is process.cpuUsage (thread pool and worker threads included).
 *
 *   git archive <rev> gateway | tar -x -C DIR && ln -s "$PWD/node_modules" DIR/node_modules
 *   node --import tsx test/bench/embedded-ab.ts --baseline DIR [--candidate DIR] [--rounds 5] [--messages 3000]
 *        [--rate 1000] [--cohort 400] [--idle-topics 18] [--only bus|projector]
 *
 * Bus: messages published one per call at --rate a second (keys random, 16 partitions) to a
 * delivery topic; its group's handler publishes a receipt per record (like the delivery stage)
 * to a receipts topic that a second group consumes. Beside them --idle-topics topics (16
 * partitions, a group each) that get nothing, like the delivery and receipt topics of the
 * gateway's other systems: their partitions only wait. Counted: SELECTs on the records table.
 *
 * Projector: the gateway's audit shape (13 events per message: ingress 5, delivery 2, receipt 4,
 * receipt delivery 2) in cohorts of --cohort messages, pipelined so that every projection run
 * folds a message's or a receipt's later events into a row an earlier run wrote (as the
 * background runs do under load); only the runs (catchUp) are timed.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import type * as AuditStoreModule from '../../gateway/audit/sqlite-audit-store.ts';
import type * as BusModule from '../../gateway/bus/sqlite-bus.ts';
import type { AuditEventInput, AuditEventKind } from '../../gateway/ports/audit-store.ts';
import type { ConsumedRecord } from '../../gateway/ports/bus.ts';
import { alternatingRounds, cpuMicros } from './support/alternating-rounds.ts';

const { values: args } = parseArgs({
  options: {
    baseline: { type: 'string' },
    /** The tree measured as "new"; default this one (give a tree with only your change to isolate it). */
    candidate: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    messages: { type: 'string', default: '3000' },
    rate: { type: 'string', default: '1000' },
    cohort: { type: 'string', default: '400' },
    'idle-topics': { type: 'string', default: '18' },
    only: { type: 'string' },
  },
});
if (!args.baseline) throw new Error('--baseline DIR (an earlier tree with node_modules linked) is required');
const ROUNDS = Number(args.rounds);
const MESSAGES = Number(args.messages);
const RATE = Number(args.rate);
const COHORT = Number(args.cohort);
const IDLE_TOPICS = Number(args['idle-topics']);
const REPO = path.resolve(import.meta.dirname, '../..');

// Statement executions by what they do; both trees load the same better-sqlite3, so one patch counts both.
const counted = { fetches: 0, summaryReads: 0, summaryInserts: 0, summaryUpdates: 0 };
{
  const probe = new Database(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('SELECT 1')) as {
    all: (...a: unknown[]) => unknown;
    get: (...a: unknown[]) => unknown;
    run: (...a: unknown[]) => unknown;
    source: string;
  };
  probe.close();
  const { all, get, run } = proto;
  proto.all = function (this: { source: string }, ...a: unknown[]) {
    if (this.source.startsWith('SELECT offset, key')) counted.fetches++;
    return all.apply(this, a);
  };
  proto.get = function (this: { source: string }, ...a: unknown[]) {
    if (this.source.startsWith('SELECT message_id AS messageId')) counted.summaryReads++;
    return get.apply(this, a);
  };
  proto.run = function (this: { source: string }, ...a: unknown[]) {
    const sql = this.source.trimStart();
    if (sql.startsWith('INSERT INTO audit_messages')) counted.summaryInserts++;
    else if (sql.startsWith('UPDATE audit_messages')) counted.summaryUpdates++;
    return run.apply(this, a);
  };
}
const resetCounts = () => {
  for (const k of Object.keys(counted) as Array<keyof typeof counted>) counted[k] = 0;
};

async function loadTree(root: string) {
  const at = (p: string) => pathToFileURL(path.join(root, p)).href;
  return {
    bus: (await import(at('gateway/bus/sqlite-bus.ts'))) as typeof BusModule,
    audit: (await import(at('gateway/audit/sqlite-audit-store.ts'))) as typeof AuditStoreModule,
  };
}
type Tree = Awaited<ReturnType<typeof loadTree>>;

async function busRun(tree: Tree): Promise<Record<string, number>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ab-bus-'));
  const bus = new tree.bus.SqliteBus({ file: path.join(dir, 'bus.db') });
  try {
    const idleTopics = Array.from({ length: IDLE_TOPICS }, (_, i) => `idle-${i}`);
    await bus.ensureTopics([
      { name: 'deliver', partitions: 16 },
      { name: 'receipts', partitions: 16 },
      ...idleTopics.map((name) => ({ name, partitions: 16 })),
    ]);
    for (const topic of idleTopics) {
      await bus.subscribe({ group: topic, topics: [topic], handler: async () => {} });
    }
    let delivered = 0;
    let receipts = 0;
    let done: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    await bus.subscribe({
      group: 'delivery',
      topics: ['deliver'],
      handler: async (r: ConsumedRecord) => {
        await bus.publish([{ topic: 'receipts', key: r.key, value: r.value, headers: { of: r.offset } }]);
        delivered++;
      },
    });
    await bus.subscribe({
      group: 'receipts',
      topics: ['receipts'],
      handler: async () => {
        if (++receipts === MESSAGES && delivered === MESSAGES) done();
      },
    });
    const value = Buffer.alloc(5000, 7);
    resetCounts();
    const before = cpuMicros();
    const perTick = Math.max(1, Math.round(RATE / 200));
    let sent = 0;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        for (let i = 0; i < perTick && sent < MESSAGES; i++, sent++) {
          void bus.publish([{ topic: 'deliver', key: randomUUID(), value, headers: { n: String(sent) } }]);
        }
        if (sent >= MESSAGES) {
          clearInterval(timer);
          resolve();
        }
      }, 5);
    });
    await finished;
    const cpu = cpuMicros() - before;
    const consumed = 2 * MESSAGES;
    return { cpuUsPerRecord: cpu / consumed, fetchesPerRecord: counted.fetches / consumed };
  } finally {
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const RECEIVERS = ['st-melde', 'by-melde', 'he-melde', 'nw-melde'];
const event = (kind: AuditEventKind, id: string, receiverSystem: string, key?: string): AuditEventInput => ({
  time: new Date().toISOString(),
  kind,
  actor: 'gateway',
  messageId: id,
  sender: 'ags:14612000',
  receiver: 'ags:15003000',
  senderSystem: 'sn-melde',
  receiverSystem,
  messageType: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
  digest: 'ab'.repeat(32),
  detail: { mode: 'push', status: 200 },
  ...(key ? { idempotencyKey: key } : {}),
});

async function projectorRun(tree: Tree): Promise<Record<string, number>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ab-projector-'));
  // No background runs: the timed catch-ups are the only ones.
  const store = new tree.audit.SqliteAuditStore({
    file: path.join(dir, 'audit.db'),
    sync: 'NORMAL',
    projectionDelayMs: 1e9,
  });
  const projector = (store as unknown as { projector: { catchUp(): void } }).projector;
  try {
    let offset = 0;
    const cohorts = Math.ceil(MESSAGES / COHORT);
    const ids = Array.from({ length: cohorts }, () =>
      Array.from({ length: COHORT }, () => ({
        id: randomUUID(),
        system: RECEIVERS[Math.floor(Math.random() * RECEIVERS.length)]!,
      })),
    );
    const delivery = (id: string, system: string) => {
      const chain = `delivery.${system}.${offset % 10}`;
      offset++;
      return store.append(
        (['delivered', 'acknowledged'] as const).map((k, n) =>
          event(k, id, system, `${chain}/${offset}/${n}`),
        ),
        chain,
      );
    };
    let cpu = 0;
    let events = 0;
    resetCounts();
    // Step s: ingress of cohort s, delivery + receipt of cohort s-1, receipt delivery of cohort s-2.
    for (let step = 0; step < cohorts + 2; step++) {
      const appends: Array<Promise<unknown>> = [];
      for (const m of ids[step] ?? []) {
        appends.push(
          store.append(
            (['received', 'accepted', 'signed', 'converted', 'queued'] as const).map((k) =>
              event(k, m.id, m.system),
            ),
            'gw',
          ),
        );
      }
      for (const m of ids[step - 1] ?? []) {
        appends.push(delivery(m.id, m.system));
        appends.push(
          store.append(
            (['received', 'accepted', 'signed', 'queued'] as const).map((k) =>
              event(k, `r-${m.id}`, 'sn-melde'),
            ),
            'gw',
          ),
        );
      }
      for (const m of ids[step - 2] ?? []) appends.push(delivery(`r-${m.id}`, 'sn-melde'));
      await Promise.all(appends);
      events +=
        (ids[step]?.length ?? 0) * 5 + (ids[step - 1]?.length ?? 0) * 6 + (ids[step - 2]?.length ?? 0) * 2;
      const before = cpuMicros();
      projector.catchUp();
      cpu += cpuMicros() - before;
    }
    const n = events;
    return {
      cpuUsPerEvent: cpu / n,
      readsPerEvent: counted.summaryReads / n,
      // The earlier projector upserted (INSERT ... ON CONFLICT): its writes all count as inserts.
      writesPerEvent: (counted.summaryInserts + counted.summaryUpdates) / n,
      updatesPerEvent: counted.summaryUpdates / n,
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const old = await loadTree(path.resolve(args.baseline));
const current = await loadTree(args.candidate ? path.resolve(args.candidate) : REPO);
if (args.only !== 'projector')
  await alternatingRounds('bus', old, current, busRun, { rounds: ROUNDS, cpuDigits: 1 });
if (args.only !== 'bus')
  await alternatingRounds('projector', old, current, projectorRun, { rounds: ROUNDS, cpuDigits: 1 });
