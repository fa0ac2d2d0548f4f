/**
 * The audit log's numbers: append rate of the SQLite and the PostgreSQL store with group commit
 * (both durable: SQLite synchronous=FULL, PostgreSQL synchronous_commit as the server has it — on
 * by default — and every caller resolves only after its COMMIT), the rate of the offline verifier
 * over an export file, and what a checkpoint costs.
 *
 *   node --import tsx test/bench/audit.ts [--events N] [--pg-url URL] [--out FILE]
 *                                         [--verify-only] [--baseline DIR] [--arrival-rate N]
 *
 * --verify-only skips the append measurements (the export to verify is written in bulk instead).
 * --baseline DIR measures an earlier verifier in the same run, alternating with this one, on the
 * same file: DIR holds an earlier tree, e.g. `git archive <rev> gateway | tar -x -C DIR` (only its
 * gateway/audit/verify-export.ts and what that imports are loaded).
 *
 * Three append shapes per store: many callers with one event each (group commit does the
 * batching), fewer callers with 100 events each (bulk, e.g. a replayed partition), and the
 * gateway's own shape (messageShapedRate); then the gateway's shape again, its messages arriving
 * at --arrival-rate a second (default 1000) instead of in lockstep (messageArrivalsCost: CPU per
 * event and append latency at that load).
 */
import { type KeyObject, randomUUID } from 'node:crypto';
import {
  createReadStream,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { ensureAuditKey } from '../../gateway/audit/audit-key.ts';
import { exportLines } from '../../gateway/audit/export.ts';
import { PgAuditStore } from '../../gateway/audit/pg-audit-store.ts';
import { SqliteAuditStore } from '../../gateway/audit/sqlite-audit-store.ts';
import { verifyExportStream } from '../../gateway/audit/verify-export.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import type { AuditEventInput, AuditEventKind, AuditStore } from '../../gateway/ports/audit-store.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    'pg-url': {
      type: 'string',
      default: process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    },
    out: { type: 'string', default: path.join(REPO_ROOT, 'bench/audit-results.json') },
    'verify-only': { type: 'boolean', default: false },
    baseline: { type: 'string' },
    'arrival-rate': { type: 'string', default: '1000' },
  },
});
const EVENTS = Number(values.events);
/** Messages a second of messageArrivalsCost. */
const ARRIVAL_RATE = Number(values['arrival-rate']);
/** Names this run's connections, so that only their server CPU is counted. */
const APPLICATION_NAME = `laender-gateway audit bench ${process.pid}`;
const PG_URL = values['pg-url']!;

let n = 0;
function event(): AuditEventInput {
  const i = n++;
  return {
    time: new Date().toISOString(),
    kind: (['received', 'accepted', 'signed', 'queued', 'delivered', 'acknowledged'] as const)[i % 6]!,
    actor: 'gateway',
    messageId: `9f1c2a3e-8b7d-4c6e-a5f4-${String(Math.floor(i / 6)).padStart(12, '0')}`,
    sender: 'ags:14612000',
    receiver: 'ags:15003000',
    senderSystem: 'sn-melde',
    receiverSystem: 'st-melde',
    messageType: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
    digest: 'ab'.repeat(32),
    detail: { mode: 'push', status: 200 },
  };
}

/**
 * CPU seconds used so far by this process plus, for PostgreSQL on this machine, by the audit
 * store's server backends (/proc): on a shared machine, events per CPU-second is the capacity figure
 * that does not depend on how busy the neighbours are.
 */
async function cpuSeconds(admin: pg.Client | undefined): Promise<number> {
  const own = process.cpuUsage();
  let total = (own.user + own.system) / 1e6;
  if (admin) {
    const pids = await admin.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
      [APPLICATION_NAME],
    );
    for (const { pid } of pids.rows) {
      try {
        const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        total += (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks
      } catch {
        // not on this machine: only the client side is counted
      }
    }
  }
  return total;
}

/** `callers` loops, each appending `perCall` events per call, until `total` events are stored. */
async function appendRate(
  store: AuditStore,
  total: number,
  callers: number,
  perCall: number,
  admin?: pg.Client,
): Promise<{ perSecond: number; perCpuSecond: number }> {
  let remaining = total;
  const cpuBefore = await cpuSeconds(admin);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (remaining > 0) {
        const size = Math.min(perCall, remaining);
        remaining -= size;
        await store.append(Array.from({ length: size }, event));
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = (await cpuSeconds(admin)) - cpuBefore;
  return { perSecond: total / seconds, perCpuSecond: total / cpu };
}

interface ShapedMessage {
  id: string;
  system: string;
  partition: number;
}

const RECEIVERS = ['st-melde', 'by-melde', 'he-melde', 'nw-melde'];

function shapedEvent(kind: AuditEventKind, m: ShapedMessage, idempotencyKey?: string): AuditEventInput {
  return {
    time: new Date().toISOString(),
    kind,
    actor: 'gateway',
    messageId: m.id,
    sender: 'ags:14612000',
    receiver: 'ags:15003000',
    senderSystem: 'sn-melde',
    receiverSystem: m.system,
    messageType: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
    digest: 'ab'.repeat(32),
    detail: { mode: 'push', status: 200 },
    ...(idempotencyKey ? { idempotencyKey } : {}),
  };
}

/** The appends of one message's life (13 events), as messageShapedRate and messageArrivalsCost make them. */
function shapedAppends(store: AuditStore) {
  const offsets = new Map<string, number>();
  // Offsets start again at each call, on the same chains: without its own prefix every delivery of a
  // later measurement would be a replay of an earlier one's key (linked to the stored entry, not appended).
  const run = randomUUID().slice(0, 8);
  const receiptOf = (m: ShapedMessage): ShapedMessage => ({ ...m, id: `r-${m.id}`, system: 'sn-melde' });
  const deliver = (m: ShapedMessage) => {
    const chain = `delivery.${m.system}.${m.partition}`;
    const offset = (offsets.get(chain) ?? 0) + 1;
    offsets.set(chain, offset);
    const kinds = ['delivered', 'acknowledged'] as const;
    return store.append(
      kinds.map((kind, n) => shapedEvent(kind, m, `${run}/${m.system}/${m.partition}/${offset}/${n}`)),
      chain,
    );
  };
  const events = (m: ShapedMessage, kinds: readonly AuditEventKind[]) =>
    store.append(
      kinds.map((k) => shapedEvent(k, m)),
      'gw',
    );
  return {
    received: (m: ShapedMessage) => events(m, ['received']),
    accepted: (m: ShapedMessage) => events(m, ['accepted', 'signed', 'converted', 'queued']),
    delivered: deliver,
    receipt: (m: ShapedMessage) => events(receiptOf(m), ['received', 'accepted', 'signed', 'queued']),
    receiptDelivered: (m: ShapedMessage) => deliver(receiptOf(m)),
  };
}

function shapedMessage(): ShapedMessage {
  return {
    id: randomUUID(),
    system: RECEIVERS[Math.floor(Math.random() * RECEIVERS.length)]!,
    partition: Math.floor(Math.random() * 10),
  };
}

/**
 * The gateway's shape: per event-loop turn, 8 messages at each stage of their life — ingress
 * (5 events on the process chain), delivery (2 events keyed by offset on `delivery.<system>.<partition>`,
 * 40 chains), the receipt (4 events) and its delivery (2) — 13 events per message, random UUID
 * message ids. A search every 12 turns makes the search rows' projection part of the cost.
 */
async function messageShapedRate(
  store: AuditStore,
  total: number,
  admin?: pg.Client,
): Promise<{ perSecond: number; perCpuSecond: number }> {
  const stages: ShapedMessage[][] = [];
  const append = shapedAppends(store);
  let stored = 0;
  const cpuBefore = await cpuSeconds(admin);
  const started = performance.now();
  for (let turn = 1; stored < total; turn++) {
    stages.unshift(Array.from({ length: 8 }, shapedMessage));
    stages.length = Math.min(stages.length, 6);
    const calls: Promise<unknown[]>[] = [];
    for (const m of stages[0]!) calls.push(append.received(m), append.accepted(m));
    for (const m of stages[2] ?? []) calls.push(append.delivered(m));
    for (const m of stages[3] ?? []) calls.push(append.receipt(m));
    for (const m of stages[5] ?? []) calls.push(append.receiptDelivered(m));
    for (const entries of await Promise.all(calls)) stored += entries.length;
    if (turn % 12 === 0) await store.searchMessages({ messageId: stages[5]?.[0]?.id ?? 'none', limit: 1 });
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = (await cpuSeconds(admin)) - cpuBefore;
  return { perSecond: stored / seconds, perCpuSecond: stored / cpu };
}

/**
 * The same messages arriving on their own instead of in lockstep: `rate` new messages a second
 * (1 ms timer), each awaiting its appends one after the other with a turn between stages, as
 * requests and bus consumers do. Appends then reach the store spread over turns and over its WAL
 * syncs — what the group commit meets in the gateway below saturation — so this measures the CPU
 * per event at a given load, and how long an append waits for its acknowledgement.
 */
async function messageArrivalsCost(
  store: AuditStore,
  messages: number,
  rate: number,
  admin?: pg.Client,
): Promise<{ cpuMicrosPerEvent: number; appendP50Ms: number; appendP99Ms: number }> {
  const append = shapedAppends(store);
  const waits: number[] = [];
  let stored = 0;
  const timed = async (call: Promise<unknown[]>) => {
    const started = performance.now();
    const entries = await call;
    stored += entries.length;
    waits.push(performance.now() - started);
  };
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  const life = async (m: ShapedMessage) => {
    await Promise.all([timed(append.received(m)), timed(append.accepted(m))]);
    await turn();
    await timed(append.delivered(m));
    await timed(append.receipt(m));
    await turn();
    await timed(append.receiptDelivered(m));
  };
  const arrive = async (count: number) => {
    const lives: Promise<void>[] = [];
    const started = performance.now();
    await new Promise<void>((arrived) => {
      const timer = setInterval(() => {
        const due = Math.min(count, Math.floor(((performance.now() - started) / 1000) * rate));
        while (lives.length < due) lives.push(life(shapedMessage()));
        if (lives.length === count) {
          clearInterval(timer);
          arrived();
        }
      }, 1);
    });
    await Promise.all(lives);
    // Its search rows are part of its cost.
    await store.searchMessages({ messageId: 'none', limit: 1 });
  };
  await arrive(Math.ceil(rate / 2)); // warm-up: compiled code, and a steady state at this rate
  await new Promise((resolve) => setTimeout(resolve, 500));
  waits.length = 0;
  stored = 0;
  const cpuBefore = await cpuSeconds(admin);
  await arrive(messages);
  const cpu = (await cpuSeconds(admin)) - cpuBefore;
  waits.sort((a, b) => a - b);
  return {
    cpuMicrosPerEvent: (cpu * 1e6) / stored,
    appendP50Ms: waits[Math.floor(waits.length / 2)]!,
    appendP99Ms: waits[Math.floor(waits.length * 0.99)]!,
  };
}

interface StoreResult {
  store: string;
  pipelineEventsPerSecond: number;
  bulkEventsPerSecond: number;
  messageShapedEventsPerSecond: number;
  pipelineEventsPerCpuSecond: number;
  bulkEventsPerCpuSecond: number;
  messageShapedEventsPerCpuSecond: number;
  arrivals: {
    messagesPerSecond: number;
    cpuMicrosPerEvent: number;
    appendP50Ms: number;
    appendP99Ms: number;
  };
  checkpointMs: number;
  checkpointLeaves: number;
}

async function benchStore(
  name: string,
  open: () => Promise<AuditStore>,
  keyDir: string,
  admin?: pg.Client,
): Promise<StoreResult> {
  const key = ensureAuditKey({ pkiDir: keyDir, passphrase: 'bench-passphrase' });
  const store = await open();
  try {
    await store.append([event()]); // connections open, statements prepared
    // First: the bulk shapes leave a WAL whose checkpoints would be counted here.
    const arrivals = await messageArrivalsCost(store, Math.ceil(EVENTS / 13), ARRIVAL_RATE, admin);
    const pipeline = await appendRate(store, EVENTS, 256, 1, admin);
    const bulk = await appendRate(store, EVENTS, 16, 100, admin);
    const shaped = await messageShapedRate(store, EVENTS, admin);
    const started = performance.now();
    const checkpoint = await store.createCheckpoint(key.signer);
    return {
      store: name,
      pipelineEventsPerSecond: Math.round(pipeline.perSecond),
      bulkEventsPerSecond: Math.round(bulk.perSecond),
      messageShapedEventsPerSecond: Math.round(shaped.perSecond),
      pipelineEventsPerCpuSecond: Math.round(pipeline.perCpuSecond),
      bulkEventsPerCpuSecond: Math.round(bulk.perCpuSecond),
      messageShapedEventsPerCpuSecond: Math.round(shaped.perCpuSecond),
      arrivals: {
        messagesPerSecond: ARRIVAL_RATE,
        cpuMicrosPerEvent: Number(arrivals.cpuMicrosPerEvent.toFixed(1)),
        appendP50Ms: Number(arrivals.appendP50Ms.toFixed(2)),
        appendP99Ms: Number(arrivals.appendP99Ms.toFixed(2)),
      },
      checkpointMs: Math.round(performance.now() - started),
      checkpointLeaves: checkpoint?.treeSize ?? 0,
    };
  } finally {
    await store.close();
  }
}

type VerifyStream = typeof verifyExportStream;

interface VerifyResult {
  bestEntriesPerSecond: number;
  medianEntriesPerSecond: number;
  bestEntriesPerCpuSecond: number;
}

/**
 * Verifies the export file as `gw audit verify` does, three times per verifier, the verifiers
 * alternating so that both see the same machine load.
 */
async function verifyRates(
  exportFile: string,
  publicKey: KeyObject,
  verifiers: [string, VerifyStream][],
): Promise<{ entries: number; rates: Record<string, VerifyResult> }> {
  const wall = new Map<string, number[]>(verifiers.map(([name]) => [name, []]));
  const cpu = new Map<string, number[]>(verifiers.map(([name]) => [name, []]));
  let entries = 0;
  for (let run = 0; run < 3; run++) {
    for (const [name, verify] of verifiers) {
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      const result = await verify(createReadStream(exportFile, { highWaterMark: 1 << 20 }), { publicKey });
      if (!result.ok) throw new Error(`${name} verify failed: ${JSON.stringify(result.failure)}`);
      entries = result.entries;
      wall.get(name)!.push(entries / ((performance.now() - started) / 1000));
      const used = process.cpuUsage(cpuBefore);
      cpu.get(name)!.push(entries / ((used.user + used.system) / 1e6));
    }
  }
  const rates: Record<string, VerifyResult> = {};
  for (const [name] of verifiers) {
    const runs = wall.get(name)!.sort((a, b) => a - b);
    rates[name] = {
      bestEntriesPerSecond: Math.round(runs[2]!),
      medianEntriesPerSecond: Math.round(runs[1]!),
      // CPU of the whole process (workers included): on a shared machine the fairer figure.
      bestEntriesPerCpuSecond: Math.round(Math.max(...cpu.get(name)!)),
    };
  }
  return { entries, rates };
}

/** Fills a SQLite store in bulk (for --verify-only): the same events, no rate measured. */
async function fillForVerify(file: string, keyDir: string): Promise<void> {
  const key = ensureAuditKey({ pkiDir: keyDir, passphrase: 'bench-passphrase' });
  const store = new SqliteAuditStore({ file, sync: 'NORMAL' });
  try {
    for (let done = 0; done < 2 * EVENTS; done += 1000) {
      await store.append(Array.from({ length: Math.min(1000, 2 * EVENTS - done) }, event));
    }
    await store.createCheckpoint(key.signer);
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gw-bench-audit-'));
  const schema = `gw_bench_audit_${process.pid}`;
  try {
    const results: StoreResult[] = [];
    const sqliteFile = path.join(dir, 'audit.sqlite');
    if (values['verify-only']) {
      await fillForVerify(sqliteFile, dir);
    } else {
      results.push(await benchStore('sqlite', async () => new SqliteAuditStore({ file: sqliteFile }), dir));
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      try {
        results.push(
          await benchStore(
            'postgres',
            () => PgAuditStore.connect({ url: PG_URL, schema, applicationName: APPLICATION_NAME }),
            dir,
            admin,
          ),
        );
      } finally {
        await admin.end();
      }
    }

    // Offline verification: export the SQLite log to a file, verify the file as `gw audit verify` does.
    const key = ensureAuditKey({ pkiDir: dir, passphrase: 'bench-passphrase' });
    const exportFile = path.join(dir, 'log.jsonl');
    const store = new SqliteAuditStore({ file: sqliteFile });
    let text = '';
    const chunks: string[] = [];
    for await (const chunk of exportLines(store)) {
      text += chunk;
      if (text.length > 1 << 22) {
        chunks.push(text);
        text = '';
      }
    }
    chunks.push(text);
    await store.close();
    writeFileSync(exportFile, chunks.join(''));
    // The verifier as `gw audit verify` runs it (one thread), and with a hashing worker
    // (`--threads 1`), which helps only where a core is idle.
    const verifiers: [string, VerifyStream][] = [
      ['current', verifyExportStream],
      ['currentWithWorker', (chunks, options) => verifyExportStream(chunks, { ...options, threads: 1 })],
    ];
    if (values.baseline) {
      const module = path.resolve(values.baseline, 'gateway/audit/verify-export.ts');
      const baseline = (await import(pathToFileURL(module).href)) as { verifyExportStream: VerifyStream };
      verifiers.push(['baseline', baseline.verifyExportStream]);
    }
    const measured = await verifyRates(exportFile, key.publicKey, verifiers);
    const verify = {
      entries: measured.entries,
      exportBytes: statSync(exportFile).size,
      ...measured.rates.current!,
      withWorker: measured.rates.currentWithWorker!,
      ...(measured.rates.baseline ? { baseline: { dir: values.baseline, ...measured.rates.baseline } } : {}),
    };

    const load = os.loadavg()[0]!;
    const report = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadAverage1m: Number(load.toFixed(2)) },
      eventsPerShape: EVENTS,
      append: results,
      verify,
      targets: { appendEventsPerSecond: 20_000, verifyEntriesPerSecond: 200_000 },
    };
    const row = (cells: (string | number)[]) =>
      cells.map((c, i) => String(c).padStart(i === 0 ? 10 : 16)).join(' ');
    process.stdout.write('\naudit append (durable, group commit)\n');
    process.stdout.write(
      `${row(['store', '1 ev × 256 callers', 'per CPU-second', '100 ev × 16 callers', 'per CPU-second', 'message-shaped', 'per CPU-second', 'checkpoint ms', 'leaves'])}\n`,
    );
    for (const r of results) {
      process.stdout.write(
        `${row([
          r.store,
          `${r.pipelineEventsPerSecond}/s`,
          r.pipelineEventsPerCpuSecond,
          `${r.bulkEventsPerSecond}/s`,
          r.bulkEventsPerCpuSecond,
          `${r.messageShapedEventsPerSecond}/s`,
          r.messageShapedEventsPerCpuSecond,
          r.checkpointMs,
          r.checkpointLeaves,
        ])}\n`,
      );
    }
    for (const r of results) {
      const a = r.arrivals;
      process.stdout.write(
        `${r.store}: ${a.messagesPerSecond} messages/s arriving: ${a.cpuMicrosPerEvent} µs CPU per event, append acknowledged after ${a.appendP50Ms} ms (p50), ${a.appendP99Ms} ms (p99)\n`,
      );
    }
    process.stdout.write(
      `\noffline verify: ${verify.entries} entries, ${(verify.exportBytes / 1e6).toFixed(1)} MB — best ${verify.bestEntriesPerSecond}/s, median ${verify.medianEntriesPerSecond}/s (${verify.bestEntriesPerCpuSecond} per CPU-second)\n`,
    );
    process.stdout.write(
      `  with a hashing worker: best ${verify.withWorker.bestEntriesPerSecond}/s, median ${verify.withWorker.medianEntriesPerSecond}/s (${verify.withWorker.bestEntriesPerCpuSecond} per CPU-second)\n`,
    );
    if (verify.baseline) {
      const b = verify.baseline;
      process.stdout.write(
        `baseline verifier (${b.dir}), same run: best ${b.bestEntriesPerSecond}/s, median ${b.medianEntriesPerSecond}/s (${b.bestEntriesPerCpuSecond} per CPU-second)\n`,
      );
    }
    process.stdout.write(`(load average ${load.toFixed(1)} on ${os.cpus().length} cores while measuring)\n`);
    mkdirSync(path.dirname(values.out!), { recursive: true });
    writeFileSync(values.out!, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`written to ${values.out}\n`);
  } finally {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
