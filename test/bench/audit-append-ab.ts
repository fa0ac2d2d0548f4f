/**
 * In-process A/B of the embedded audit path against an earlier tree: CPU per audit event of
 * AuditLog + SqliteAuditStore (`sync: 'FULL'`, as the gateway runs it) + its message projector,
 * with the pipeline's event shapes and existence checks. Old and new run alternately in this one
 * process, several rounds, each on a fresh file; CPU is process.cpuUsage (the thread pool's
 * fdatasync included, the same for both).
 *
 *   git archive <rev> gateway adapters standards | tar -x -C DIR && ln -s "$PWD/node_modules" DIR/node_modules
 *   node --import tsx test/bench/audit-append-ab.ts --baseline DIR [--rounds 5] [--messages 3000]
 *        [--rate 200] [--only sqlite|js]
 *
 * Messages start at --rate a second (the embedded gateway's ~200/s: ~2,000 events a second, so the
 * group commit batches as there), each going through its stages one after the other:
 * ingress asks hasEvent(id, 'accepted') and appends received, accepted, [converted, every 4th],
 * signed, queued in one recordMany to 'main'; delivery appends delivery-attempted, delivered,
 * acknowledged with idempotency keys to its partition's chain `delivery.<system>.<partition>`;
 * the receipt asks hasEvent(receiptId, 'accepted') and appends accepted, signed, delivered to
 * 'main'. Background projection runs as configured in the gateway; the final catch-up is timed too.
 *
 * `js`: the same events through the AuditLog into a store that does, per event, only the JS work
 * SqliteAuditStore does (pendingEvents, chainEntry, entryRow: validation, canonical JSON, SHA-256,
 * the row) — no SQLite, no disk, no pacing: the part of the per-event cost that is not the
 * database's, measured without the commit and sync noise that swamps it in the runs above.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import type * as AuditLogModule from '../../gateway/audit/audit-log.ts';
import type * as HashChainModule from '../../gateway/audit/hash-chain.ts';
import type * as RowsModule from '../../gateway/audit/rows.ts';
import type * as AuditStoreModule from '../../gateway/audit/sqlite-audit-store.ts';
import type {
  AuditEntry,
  AuditEventInput,
  AuditEventKind,
  AuditStore,
} from '../../gateway/ports/audit-store.ts';
import { alternatingRounds, cpuMicros } from './support/alternating-rounds.ts';

const { values: args } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    messages: { type: 'string', default: '3000' },
    rate: { type: 'string', default: '200' },
    only: { type: 'string' },
  },
});
if (!args.baseline) throw new Error('--baseline DIR (an earlier tree with node_modules linked) is required');
const ROUNDS = Number(args.rounds);
const MESSAGES = Number(args.messages);
const RATE = Number(args.rate);
const REPO = path.resolve(import.meta.dirname, '../..');
const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux

// Statement executions on the entries by what they do; both trees load the same better-sqlite3.
const counted = { headReads: 0, inserts: 0, existenceChecks: 0, commits: 0 };
{
  const probe = new Database(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('SELECT 1')) as {
    get: (...a: unknown[]) => unknown;
    run: (...a: unknown[]) => unknown;
    source: string;
  };
  probe.close();
  const { get, run } = proto;
  proto.get = function (this: { source: string }, ...a: unknown[]) {
    if (this.source.startsWith('SELECT seq, hash FROM audit_entries WHERE chain = ?')) counted.headReads++;
    else if (this.source.startsWith('SELECT 1 FROM audit_entries WHERE message_id'))
      counted.existenceChecks++;
    return get.apply(this, a);
  };
  proto.run = function (this: { source: string }, ...a: unknown[]) {
    const sql = this.source.trimStart();
    if (sql.startsWith('INSERT INTO audit_entries')) counted.inserts++;
    else if (sql === 'COMMIT') counted.commits++;
    return run.apply(this, a);
  };
}
const resetCounts = () => {
  for (const k of Object.keys(counted) as Array<keyof typeof counted>) counted[k] = 0;
};

/**
 * The main thread's CPU alone (the event loop the audit path runs on, without the thread pool's
 * fdatasync): Linux's per-thread counters, in clock ticks (10 ms: a run takes seconds); NaN elsewhere.
 */
const mainThreadMicros = () => {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command.
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
};

async function loadTree(root: string) {
  const at = (p: string) => pathToFileURL(path.join(root, p)).href;
  return {
    log: (await import(at('gateway/audit/audit-log.ts'))) as typeof AuditLogModule,
    store: (await import(at('gateway/audit/sqlite-audit-store.ts'))) as typeof AuditStoreModule,
    hashChain: (await import(at('gateway/audit/hash-chain.ts'))) as typeof HashChainModule,
    rows: (await import(at('gateway/audit/rows.ts'))) as typeof RowsModule,
  };
}
type Tree = Awaited<ReturnType<typeof loadTree>>;

const RECEIVERS = ['st-melde', 'by-melde', 'he-melde', 'nw-melde'];
const PARTITIONS = 16;
const INSTANCE = `gw-${process.pid}`;

type Log = InstanceType<Tree['log']['AuditLog']>;
type HasEvent = (messageId: string, kind: AuditEventKind) => Promise<boolean>;

/** The pipeline's audit calls for message `n`; `counter.events` counts the events appended. */
function pipeline(audit: Log, hasEvent: HasEvent, counter: { events: number }) {
  const chains = new Map<string, Log>();
  const chainOf = (system: string, partition: number) => {
    const name = `delivery.${system}.${partition}`;
    let log = chains.get(name);
    if (!log) {
      log = audit.withChain(name);
      chains.set(name, log);
    }
    return log;
  };
  const offsets = new Map<string, number>();

  return async (n: number): Promise<void> => {
    const id = randomUUID();
    const receiverSystem = RECEIVERS[n % RECEIVERS.length]!;
    const common = {
      actor: 'sn-melde',
      messageId: id,
      sender: 'ags:14612000',
      receiver: 'ags:15003000',
      senderSystem: 'sn-melde',
      receiverSystem,
      messageType: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
    };
    const digest = randomUUID().replaceAll('-', '').repeat(2);
    const sealed = { ...common, actor: 'gateway', digest };
    // Ingress.
    if (await hasEvent(id, 'accepted')) throw new Error('fresh message already accepted');
    const ingress = [
      { ...common, kind: 'received' as const, detail: { requestId: randomUUID() } },
      { ...common, kind: 'accepted' as const, detail: { referenzUUID: null } },
      ...(n % 4 === 0
        ? [
            {
              ...sealed,
              kind: 'converted' as const,
              detail: { from: common.messageType, to: common.messageType },
            },
          ]
        : []),
      { ...sealed, kind: 'signed' as const, detail: { algorithm: 'rsa-sha256', keyId: 'gateway-2026' } },
      {
        ...sealed,
        kind: 'queued' as const,
        detail: { topic: `deliver.${receiverSystem}`, partition: n % 16 },
      },
    ];
    await audit.recordMany(ingress);
    counter.events += ingress.length;
    // Delivery (push), idempotent per bus record.
    const partition = n % PARTITIONS;
    const topic = `deliver.${receiverSystem}`;
    const offset = offsets.get(`${topic}/${partition}`) ?? 0;
    offsets.set(`${topic}/${partition}`, offset + 1);
    const key = (slot: number) => `${topic}/${partition}/${offset}/${slot}`;
    const event = { ...sealed };
    const push = { mode: 'push', status: 200, outcome: 'ok', attempt: 1, instance: INSTANCE };
    await chainOf(receiverSystem, partition).recordMany([
      { ...event, idempotencyKey: key(1), kind: 'delivery-attempted', detail: push },
      {
        ...event,
        idempotencyKey: key(2),
        kind: 'delivered',
        detail: { mode: 'push', status: 200, attempt: 1, instance: INSTANCE },
      },
      { ...event, idempotencyKey: key(3), kind: 'acknowledged', detail: { mode: 'push' } },
    ]);
    counter.events += 3;
    // Receipt back to the sender's inbox.
    const receiptId = randomUUID();
    if (await hasEvent(receiptId, 'accepted')) throw new Error('fresh receipt already issued');
    const receipt = {
      actor: receiverSystem,
      messageId: receiptId,
      sender: common.receiver,
      receiver: common.sender,
      senderSystem: receiverSystem,
      receiverSystem: 'sn-melde',
      messageType: 'xmeld:25.11:quittung.0020',
      digest,
    };
    await audit.recordMany([
      { ...receipt, kind: 'accepted', detail: { referenzUUID: id } },
      { ...receipt, actor: 'gateway', kind: 'signed', detail: { algorithm: 'rsa-sha256' } },
      {
        ...receipt,
        actor: 'gateway',
        kind: 'delivered',
        detail: { mode: 'pull', route: 'inbox', instance: INSTANCE },
      },
    ]);
    counter.events += 3;
  };
}

async function sqliteRun(tree: Tree): Promise<Record<string, number>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ab-audit-'));
  const store = new tree.store.SqliteAuditStore({ file: path.join(dir, 'audit.db') });
  const counter = { events: 0 };
  const message = pipeline(new tree.log.AuditLog(store), (id, kind) => store.hasEvent(id, kind), counter);
  try {
    resetCounts();
    const before = cpuMicros();
    const mainBefore = mainThreadMicros();
    const started: Array<Promise<void>> = [];
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const due = Math.min(MESSAGES, Math.floor(((performance.now() - t0) / 1000) * RATE));
        while (started.length < due) started.push(message(started.length));
        if (started.length >= MESSAGES) {
          clearInterval(timer);
          resolve();
        }
      }, 2);
    });
    await Promise.all(started);
    // What the background runs left, as a search would project it.
    (store as unknown as { projector: { catchUp(): void } }).projector.catchUp();
    const cpu = cpuMicros() - before;
    const mainCpu = mainThreadMicros() - mainBefore;
    const verified = await store.query({ limit: 1 });
    if (verified.length !== 1) throw new Error('nothing appended');
    const events = counter.events;
    const perEvent = (n: number) => n / events;
    return {
      cpuUsPerEvent: cpu / events,
      cpuMainUsPerEvent: mainCpu / events,
      headReadsPerEvent: perEvent(counted.headReads),
      insertsPerEvent: perEvent(counted.inserts),
      checksPerEvent: perEvent(counted.existenceChecks),
      // Every COMMIT of the connection: the appends' and the projection runs'.
      commitsPerEvent: perEvent(counted.commits),
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A store that does per event what SqliteAuditStore does in JS, and nothing else. */
function jsOnlyStore(tree: Tree): AuditStore {
  const heads = new Map<string, { seq: number; hash: string }>();
  return {
    kind: 'js-only',
    async append(events: AuditEventInput[], chain = 'main'): Promise<AuditEntry[]> {
      const pending = tree.rows.pendingEvents(events, chain);
      let head = heads.get(chain) ?? { seq: 0, hash: tree.hashChain.GENESIS_HASH };
      const entries: AuditEntry[] = [];
      for (let i = 0; i < pending.events.length; i++) {
        const entry = tree.hashChain.chainEntry(pending.events[i]!, chain, head);
        tree.rows.entryRow(entry, pending.detailJson[i]!, pending.keys[i]!);
        entries.push(entry);
        head = entry;
      }
      heads.set(chain, head);
      return entries;
    },
  } as unknown as AuditStore;
}

async function jsRun(tree: Tree): Promise<Record<string, number>> {
  const counter = { events: 0 };
  const message = pipeline(new tree.log.AuditLog(jsOnlyStore(tree)), async () => false, counter);
  const before = cpuMicros();
  for (let n = 0; n < MESSAGES * 5; n++) await message(n);
  return { cpuUsPerEvent: (cpuMicros() - before) / counter.events };
}

const old = await loadTree(path.resolve(args.baseline));
const current = await loadTree(REPO);
if (args.only !== 'js')
  await alternatingRounds(`sqlite (${MESSAGES} messages at ${RATE}/s)`, old, current, sqliteRun, {
    rounds: ROUNDS,
    cpuDigits: 2,
  });
if (args.only !== 'sqlite')
  await alternatingRounds(`js path (${MESSAGES * 5} messages)`, old, current, jsRun, {
    rounds: ROUNDS,
    cpuDigits: 2,
  });
