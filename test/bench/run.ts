/**
 * npm run bench — the gateway's end-to-end throughput and latency, embedded and on Kafka, each
 * beside its baselines measured in the same run on the same machine:
 * - the physical ceiling for signed messages: raw crypto.sign with the gateway's own sealing key,
 *   one worker thread per core, all at once (sign_ceiling_msgs_per_s); and the gateway signer
 *   against raw crypto.sign on one core, in alternating rounds (sign_ratio_vs_raw);
 * - a bare fastify HTTPS route (bare-fastify.ts: same TLS setup with client certificates, same
 *   payloads, same load generator): what TLS, HTTP and the generator cost here;
 * - raw kafkajs produce→consume with the gateway's own record value and headers;
 * - the physical bound (physical-bound.ts): the rate of a gateway doing only the unavoidable work
 *   per message (ingress request, seals, seal verifications, pushes) on the same cores, from the
 *   CPU time per operation of those baselines, a raw push baseline and raw crypto.verify.
 *
 * Method. The gateway runs as its own process (`gw start`, as operators run it), first embedded
 * (SQLite bus), then with GATEWAY_BUS=kafka on the local broker (through deploy/kafka/local.sh's
 * lease, unless KAFKA_BROKERS names one). Every receiving system of the mix is switched to push
 * delivery to an HTTPS receiver in this process (client certificate required), so "delivered" is
 * the moment the receiver has the native payload. The workload is a mix of the three domains
 * (workload.ts), sent with each sender's client certificate over keep-alive connections (undici).
 * Per mode:
 *   1. warm-up (JIT, TLS sessions, caches, Kafka group joins), drained;
 *   2. sustained rate, closed loop: --messages messages, --concurrency in flight; the rate is
 *      messages / (first send → last delivery);
 *   3. latency below saturation: the open loop of step 4 at 25, 50 and 75 % of the sustained rate
 *      just measured, so operators see what a message waits at a load the gateway keeps up with
 *      (above the sustained rate the latency is only the queue's length);
 *   4. fixed offered load, open loop: --rate messages/s for --rate-seconds; latency send → delivered
 *      counted from each message's scheduled send time (p50/p99/p99.9), and the achieved rate
 *      (messages delivered / (first scheduled send → last delivery)).
 *   Every open-loop run starts on an idle gateway: the previous run's messages all delivered and its
 *   receipts handled, so no backlog leaks into the next one.
 * Peak RSS of the gateway process is sampled from /proc every 100 ms over the whole mode.
 * The machine is shared: absolute numbers drift, the ratios within one run are what count; the
 * load average at the start and the end is recorded.
 *
 * Options: --messages N (default 3000), --concurrency C (default 64), --rate R (default 1000),
 * --rate-seconds S (default 3), --out FILE (default bench/results.json), --profile DIR (V8 CPU
 * profile of the embedded gateway process into DIR; with --no-embedded, of the Kafka-mode one), --no-kafka,
 * --no-baselines, --no-embedded (the Kafka mode alone: its table and results, nothing else).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import kafkajs from 'kafkajs';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { decryptPrivateKeyPem } from '../../gateway/pki/ca.ts';
import { DocumentSigner } from '../../gateway/signing/canonical-signer.ts';
import { contractsWith, TEST_PASSPHRASE, tempDir } from '../support/gateway.ts';
import { operatorStartArgs } from '../support/operator-start.ts';
import { startPushReceiver } from '../support/push-receiver.ts';
import {
  type PipelineCounts,
  PushSampler,
  physicalBound,
  pushCost,
  sealCosts,
  settledCounts,
  type WorkPerMessage,
  workPerMessage,
} from './physical-bound.ts';
import { canonicalDocument, paired, rateSync, rawSignThreads } from './sign-rates.ts';
import {
  averageBytes,
  closedLoop,
  LoadGenerator,
  mixedPayloads,
  openLoop,
  type Payload,
  percentile,
  RECEIVERS,
  SENDERS,
  type SendReport,
} from './workload.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '64' },
    rate: { type: 'string', default: '1000' },
    'rate-seconds': { type: 'string', default: '3' },
    out: { type: 'string', default: path.join(REPO_ROOT, 'bench/results.json') },
    profile: { type: 'string' },
    'no-kafka': { type: 'boolean', default: false },
    'no-embedded': { type: 'boolean', default: false },
    'no-baselines': { type: 'boolean', default: false },
  },
});
const MESSAGES = Number(values.messages);
const CONCURRENCY = Number(values.concurrency);
const RATE = Number(values.rate);
const RATE_SECONDS = Number(values['rate-seconds']);
const RATE_MESSAGES = Math.round(RATE * RATE_SECONDS);
/** Fractions of a mode's sustained rate offered in open loop for the latency below saturation. */
const BELOW_SATURATION = [0.25, 0.5, 0.75] as const;
/** After a drain: WAL checkpoints and the audit projection catch up before the next run. */
const SETTLE_MS = 1000;
/** The gateway's default partition count per deliver topic (config bus.partitions). */
const PARTITIONS = 16;
const RAW_BATCH = 100;
/** How long to wait for the last deliveries of a phase before calling the rest lost. */
const DRAIN_TIMEOUT_MS = 120_000;

const round1 = (x: number) => Number(x.toFixed(1));
const round2 = (x: number) => Number(x.toFixed(2));
const round3 = (x: number) => Number(x.toFixed(3));
const loadAverage = () => os.loadavg().map((l) => Number(l.toFixed(2)));

/** Deliveries seen by the push receiver, matched to sends by nachrichtenUUID. */
class DeliveryTracker {
  private readonly sentAt = new Map<string, number>();
  latenciesMs: number[] = [];
  lastDeliveryMs = 0;
  private waiting: { count: number; resolve: () => void } | undefined;

  sent(p: Payload, atMs: number): void {
    this.sentAt.set(p.id, atMs);
  }

  delivered(messageId: string): void {
    const at = performance.now();
    const sent = this.sentAt.get(messageId);
    if (sent === undefined) return; // a redelivery, or a message of an earlier phase
    this.sentAt.delete(messageId);
    this.latenciesMs.push(at - sent);
    this.lastDeliveryMs = at;
    if (this.waiting && this.latenciesMs.length >= this.waiting.count) this.waiting.resolve();
  }

  reset(): void {
    this.sentAt.clear();
    this.latenciesMs = [];
    this.lastDeliveryMs = 0;
  }

  /** Resolves when `count` deliveries arrived or the drain timeout passed. */
  async drained(count: number): Promise<void> {
    if (this.latenciesMs.length >= count) return;
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => {
        this.waiting = { count, resolve };
      }),
      new Promise((r) => {
        timeout = setTimeout(r, DRAIN_TIMEOUT_MS);
      }),
    ]);
    // A pending timeout would keep the bench process alive for up to DRAIN_TIMEOUT_MS after its results.
    clearTimeout(timeout);
    this.waiting = undefined;
  }
}

interface Latency {
  p50_ms: number;
  p99_ms: number;
  p999_ms: number;
}

function latency(values: number[]): Latency {
  return {
    p50_ms: round1(percentile(values, 50)),
    p99_ms: round1(percentile(values, 99)),
    p999_ms: round1(percentile(values, 99.9)),
  };
}

interface ServerResult {
  /** Closed loop: messages / (first send → last delivery) (bare route: → last response). */
  msgs_per_s: number;
  /** Closed loop: CPU time of the server process (all threads) per message. */
  cpu_ms_per_msg: number;
  /**
   * Closed loop: CPU time of this process per message, the load generator and, for the gateway, the
   * push receiver (over the same window as cpu_ms_per_msg).
   */
  bench_process_cpu_ms_per_msg: number;
  /** Closed loop: 202s per second at the ingress. */
  ingress_msgs_per_s: number;
  ingress: Latency;
  /** Open loop at RATE: latency send → delivered (bare route: send → response). */
  fixed_rate: FixedRate;
  rss_mb_peak: number;
  failed_requests: number;
}

interface FixedRate extends Latency {
  offered_msgs_per_s: number;
  achieved_msgs_per_s: number;
  delivered: number;
  sent: number;
  ingress_p99_ms: number;
}

/** Open loop at a fraction of the mode's sustained rate: latency send → delivered. */
interface BelowSaturation extends Latency {
  fraction: number;
  offered_msgs_per_s: number;
  achieved_msgs_per_s: number;
  sent: number;
  delivered: number;
}

type GatewayResult = ServerResult & { latency_below_saturation: BelowSaturation[] };

/**
 * Requests without a 202 are reported (failed_requests) and left out of the rates; answers other
 * than 202, or more than 1 % failures, abort the bench: the figures would not describe the gateway.
 */
function tolerate(what: string, report: SendReport): void {
  if (report.failed === 0) return;
  const detail = `${report.failed} requests not accepted: ${JSON.stringify(report.statuses)} ${JSON.stringify(report.errors)}`;
  const answered = Object.entries(report.statuses).some(([status]) => status !== '0');
  if (answered || report.failed > (report.accepted + report.failed) / 100) {
    throw new Error(`${what}: ${detail}`);
  }
  process.stderr.write(`${what}: ${detail}\n`);
}

/** Samples a process's resident set size; returns a stop function giving the peak in MB. */
function rssSampler(pid: number): () => number {
  let peak = 0;
  const sample = () => {
    try {
      const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
      peak = Math.max(peak, kb / 1024);
    } catch {}
  };
  const timer = setInterval(sample, 100);
  return () => {
    clearInterval(timer);
    sample();
    return Math.round(peak);
  };
}

/**
 * JIT, caches, Kafka group joins, and every keep-alive connection opened before the clock starts,
 * ramping up the number in flight (dozens of simultaneous TLS handshakes with client certificates
 * against a process still compiling its first requests can exceed the client's connect timeout on a
 * loaded machine). Returns the number of messages accepted.
 */
async function warmUp(gen: LoadGenerator, onSend?: (p: Payload, atMs: number) => void): Promise<number> {
  let sent = 0;
  for (const [n, inFlight] of [
    [30, SENDERS.length],
    [120, Math.ceil(CONCURRENCY / 4)],
    [300, CONCURRENCY],
  ] as const) {
    const report = await closedLoop(gen, mixedPayloads(n), inFlight, onSend);
    // Not measured: a connect timeout here only means the connection opens on a later request.
    if (report.failed > 0)
      process.stderr.write(`warm-up: ${report.failed} failed ${JSON.stringify(report.errors)}\n`);
    sent += report.accepted;
  }
  return sent;
}

async function waitReady(baseUrl: string, dataDir: string): Promise<void> {
  const probe = SystemClient.forSystem(baseUrl, dataDir, null);
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await probe.call('GET', '/health/ready')).status === 200) return;
      } catch {}
      if (i > 600) throw new Error(`${baseUrl} did not become ready`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await probe.close();
  }
}

/**
 * CPU seconds (user + system, all threads) a process has used so far, from /proc/<pid>/stat. Per
 * message, this is the figure least disturbed by other load on a shared machine.
 */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat (utime, stime) in clock ticks of 1/100 s (USER_HZ on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

function stopChild(child: ReturnType<typeof spawn>): Promise<unknown> {
  if (child.exitCode !== null) return Promise.resolve();
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  return exited;
}

/** CPU milliseconds (user + system, all threads) this process has used so far. */
function ownCpuMs(): number {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
}

interface GatewayRun {
  result: GatewayResult;
  /** Seals, verifications and pushes per message over the closed loop (the gateway's metrics). */
  work: WorkPerMessage;
  /** Pushes as the receiver got them, for the raw push baseline. */
  pushes: PushSampler;
}

/**
 * Open loop through the gateway at `rate` for --rate-seconds, on an idle gateway, and the drain
 * after it: latency from each message's scheduled send to its delivery.
 */
async function fixedRate(
  gen: LoadGenerator,
  tracker: DeliveryTracker,
  rate: number,
): Promise<{ fixed: FixedRate; failed: number }> {
  tracker.reset();
  const payloads = mixedPayloads(Math.round(rate * RATE_SECONDS));
  const firstDue = performance.now();
  const open = await openLoop(gen, payloads, rate, (p, due) => tracker.sent(p, due));
  tolerate(`fixed rate ${rate}/s`, open);
  await tracker.drained(open.accepted);
  const delivered = tracker.latenciesMs.length;
  const achieved = delivered / ((tracker.lastDeliveryMs - firstDue) / 1000);
  const fixed: FixedRate = {
    offered_msgs_per_s: rate,
    achieved_msgs_per_s: Math.round(achieved),
    sent: payloads.length,
    delivered,
    // Not delivered within the drain timeout counts as infinitely late.
    ...latency([
      ...tracker.latenciesMs,
      ...Array.from({ length: open.accepted - delivered }, () => Number.POSITIVE_INFINITY),
    ]),
    ingress_p99_ms: round1(percentile(open.responseMs, 99)),
  };
  return { fixed, failed: open.failed };
}

/** Until the gateway is idle: everything delivered, receipts handled, counters still. */
async function settle(baseUrl: string, dataDir: string): Promise<void> {
  await settledCounts(baseUrl, dataDir);
  await new Promise((r) => setTimeout(r, SETTLE_MS));
}

/** One gateway process, the four phases through it to the push receiver. */
async function runGateway(
  dataDir: string,
  extraEnv: Record<string, string>,
  profileDir?: string,
): Promise<GatewayRun> {
  const tracker = new DeliveryTracker();
  const pushes = new PushSampler();
  const receiver = await startPushReceiver(dataDir, (request) => {
    pushes.take(request);
    tracker.delivered(request.messageId);
    return 204;
  });
  const contractsDir = contractsWith((systems) =>
    systems.map((s) =>
      (RECEIVERS as readonly string[]).includes(s.id)
        ? { ...s, delivery: { mode: 'push' as const, url: receiver.url } }
        : s,
    ),
  );
  const port = 20000 + Math.floor(Math.random() * 20000);
  const profileArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profileDir)}`] : [];
  const child = spawn(process.execPath, [...profileArgs, ...operatorStartArgs()], {
    env: {
      ...process.env,
      GATEWAY_DATA_DIR: dataDir,
      GATEWAY_CONTRACTS_DIR: contractsDir,
      GATEWAY_PORT: String(port),
      GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
      GATEWAY_LOG_LEVEL: 'warn',
      GATEWAY_BUS_PARTITIONS: String(PARTITIONS),
      // The counts per message come from /metrics (physical-bound.ts), scraped without a token: this
      // gateway's port is loopback-only and lives for one run.
      GATEWAY_METRICS_ACCESS: 'public',
      ...extraEnv,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const baseUrl = `https://127.0.0.1:${port}`;
  const stopRss = rssSampler(child.pid!);
  let gen: LoadGenerator | undefined;
  try {
    // The gateway issues the senders' client certificates as it starts: connect after it is ready.
    await waitReady(baseUrl, dataDir);
    gen = new LoadGenerator(baseUrl, dataDir, Math.ceil(CONCURRENCY / SENDERS.length));
    const warmed = await warmUp(gen, (p, at) => tracker.sent(p, at));
    await tracker.drained(warmed);
    tracker.reset();
    const countsBefore: PipelineCounts = await settledCounts(baseUrl, dataDir);

    const payloads = mixedPayloads(MESSAGES);
    const cpuBefore = cpuSeconds(child.pid!);
    const ownCpuBefore = ownCpuMs();
    const closedStart = performance.now();
    const closed = await closedLoop(gen, payloads, CONCURRENCY, (p, at) => tracker.sent(p, at));
    tolerate('closed loop', closed);
    await tracker.drained(closed.accepted);
    if (tracker.latenciesMs.length < closed.accepted) {
      throw new Error(`closed loop: ${tracker.latenciesMs.length} of ${closed.accepted} accepted delivered`);
    }
    const sustained = tracker.latenciesMs.length / ((tracker.lastDeliveryMs - closedStart) / 1000);
    const cpuMsPerMessage = ((cpuSeconds(child.pid!) - cpuBefore) * 1000) / tracker.latenciesMs.length;
    const benchCpuMsPerMessage = (ownCpuMs() - ownCpuBefore) / tracker.latenciesMs.length;
    const work = workPerMessage(countsBefore, await settledCounts(baseUrl, dataDir));
    await new Promise((r) => setTimeout(r, SETTLE_MS));

    const msgsPerS = Math.round(sustained);
    let failed = closed.failed;
    const belowSaturation: BelowSaturation[] = [];
    for (const fraction of BELOW_SATURATION) {
      const { fixed, failed: runFailed } = await fixedRate(
        gen,
        tracker,
        Math.max(1, Math.round(fraction * msgsPerS)),
      );
      const { ingress_p99_ms: _, ...below } = fixed;
      belowSaturation.push({ fraction, ...below });
      failed += runFailed;
      await settle(baseUrl, dataDir);
    }
    const { fixed, failed: fixedFailed } = await fixedRate(gen, tracker, RATE);
    const result: GatewayResult = {
      msgs_per_s: msgsPerS,
      cpu_ms_per_msg: round2(cpuMsPerMessage),
      bench_process_cpu_ms_per_msg: round2(benchCpuMsPerMessage),
      ingress_msgs_per_s: Math.round(MESSAGES / closed.seconds),
      ingress: latency(closed.responseMs),
      fixed_rate: fixed,
      latency_below_saturation: belowSaturation,
      rss_mb_peak: stopRss(),
      failed_requests: failed + fixedFailed,
    };
    return { result, work, pushes };
  } finally {
    stopRss();
    await gen?.close();
    await stopChild(child);
    await receiver.close();
    rmSync(contractsDir, { recursive: true, force: true });
  }
}

/** The bare fastify route, same generator and payloads: closed loop, then the fixed rate. */
async function runBareFastify(dataDir: string): Promise<ServerResult> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(REPO_ROOT, 'test/bench/bare-fastify.ts')],
    {
      env: { ...process.env, BENCH_PKI_DIR: path.join(dataDir, 'pki'), BENCH_PORT: String(port) },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const baseUrl = `https://127.0.0.1:${port}`;
  const gen = new LoadGenerator(baseUrl, dataDir, Math.ceil(CONCURRENCY / SENDERS.length));
  const stopRss = rssSampler(child.pid!);
  try {
    await waitReady(baseUrl, dataDir);
    await warmUp(gen);
    const cpuBefore = cpuSeconds(child.pid!);
    const ownCpuBefore = ownCpuMs();
    const closed = await closedLoop(gen, mixedPayloads(MESSAGES), CONCURRENCY);
    const cpuMsPerMessage = ((cpuSeconds(child.pid!) - cpuBefore) * 1000) / closed.accepted;
    const benchCpuMsPerMessage = (ownCpuMs() - ownCpuBefore) / closed.accepted;
    tolerate('bare closed loop', closed);
    const open = await openLoop(gen, mixedPayloads(RATE_MESSAGES), RATE);
    tolerate('bare open loop', open);
    const rate = Math.round(MESSAGES / closed.seconds);
    return {
      msgs_per_s: rate,
      cpu_ms_per_msg: round2(cpuMsPerMessage),
      bench_process_cpu_ms_per_msg: round2(benchCpuMsPerMessage),
      ingress_msgs_per_s: rate,
      ingress: latency(closed.responseMs),
      fixed_rate: {
        offered_msgs_per_s: RATE,
        achieved_msgs_per_s: Math.round(RATE_MESSAGES / open.seconds),
        sent: RATE_MESSAGES,
        delivered: open.accepted,
        ...latency(open.responseMs),
        ingress_p99_ms: round1(percentile(open.responseMs, 99)),
      },
      rss_mb_peak: stopRss(),
      failed_requests: 0,
    };
  } finally {
    stopRss();
    await gen.close();
    await stopChild(child);
  }
}

/** Raw crypto.sign with the sealing key: all cores at once, and one core paired with the gateway signer. */
async function signBaselines(dataDir: string) {
  const keyPem = decryptPrivateKeyPem(
    readFileSync(path.join(dataDir, 'pki', 'signing.key'), 'utf8'),
    TEST_PASSPHRASE,
  );
  const certPem = readFileSync(path.join(dataDir, 'pki', 'signing.crt'), 'utf8');
  const { createPrivateKey, sign } = await import('node:crypto');
  const privateKey = createPrivateKey(keyPem);
  const signer = new DocumentSigner({ privateKey, certPem, algorithm: 'rsa-sha256' });
  const document = canonicalDocument();
  const bytes = Buffer.from(document, 'utf8');
  const oneCore = await paired(
    5,
    300,
    (ms) => rateSync(ms, () => sign('sha256', bytes, privateKey)),
    (ms) => rateSync(ms, () => signer.signCanonical(document)),
  );
  const seal = sealCosts(privateKey, certPem, document);
  const threads = os.availableParallelism();
  const raw = await rawSignThreads(keyPem, document, 'rsa-sha256', threads);
  try {
    await raw.round(200); // warm-up
    let sum = 0;
    for (let i = 0; i < 3; i++) sum += (await raw.round(500)).ops;
    return {
      ceiling: sum / 3,
      threads,
      rawOneCore: oneCore.a,
      signerOneCore: oneCore.b,
      ratio: oneCore.ratio,
      ...seal,
    };
  } finally {
    await raw.close();
  }
}

// --- Kafka --------------------------------------------------------------------------------------

function localSh(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(REPO_ROOT, 'deploy/kafka/local.sh'), ...args], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`deploy/kafka/local.sh ${args[0]} exited ${code}`)),
    );
  });
}

/** The broker to use, and how to let go of it (a lease on the local one, as the test suite takes). */
async function kafkaBroker(): Promise<{ brokers: string; release: () => Promise<void> }> {
  const configured = process.env.KAFKA_BROKERS?.trim();
  if (configured) return { brokers: configured, release: async () => {} };
  const holder = String(process.pid);
  await localSh(['acquire', holder]);
  return {
    brokers: `127.0.0.1:${process.env.KAFKA_PORT ?? '9092'}`,
    release: () => localSh(['release', holder]),
  };
}

function kafkaClient(brokers: string, clientId: string) {
  return new kafkajs.Kafka({ clientId, brokers: brokers.split(','), logLevel: kafkajs.logLevel.NOTHING });
}

/** One record as the gateway wrote it to the deliver topic: the template for the raw run. */
async function sampleRecord(
  brokers: string,
  topic: string,
): Promise<{ value: Buffer; headers: Record<string, string> }> {
  const consumer = kafkaClient(brokers, 'bench-sample').consumer({ groupId: `${topic}.bench-sample` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no record on ${topic}`)), 30_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          clearTimeout(timer);
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
          resolve({ value: message.value ?? Buffer.alloc(0), headers });
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
}

/** Raw kafkajs produce→consume of MESSAGES records shaped like `sample`: records per second. */
async function rawKafkaRate(
  brokers: string,
  prefix: string,
  sample: { value: Buffer; headers: Record<string, string> },
): Promise<number> {
  const kafka = kafkaClient(brokers, 'bench-raw');
  const topic = `${prefix}.raw`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }] });
  await admin.disconnect();
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  const consumer = kafka.consumer({ groupId: `${prefix}.raw-reader`, maxWaitTimeInMs: 100 });
  await Promise.all([producer.connect(), consumer.connect()]);
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let consumed = 0;
    let lastConsumed = 0n;
    let onDone: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      onDone = resolve;
    });
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.run({
      partitionsConsumedConcurrently: 8,
      eachBatch: async ({ batch }) => {
        consumed += batch.messages.length;
        lastConsumed = process.hrtime.bigint();
        if (consumed >= MESSAGES) onDone();
      },
    });
    await joined;
    const started = process.hrtime.bigint();
    for (let sent = 0; sent < MESSAGES; sent += RAW_BATCH) {
      await producer.send({
        topic,
        acks: -1,
        messages: Array.from({ length: Math.min(RAW_BATCH, MESSAGES - sent) }, () => ({
          key: randomUUID(),
          value: sample.value,
          headers: sample.headers,
        })),
      });
    }
    await Promise.race([done, new Promise((r) => setTimeout(r, 60_000))]);
    if (consumed < MESSAGES) throw new Error(`raw Kafka: consumed ${consumed}/${MESSAGES}`);
    return MESSAGES / (Number(lastConsumed - started) / 1e9);
  } finally {
    await Promise.all([producer.disconnect(), consumer.disconnect()]);
  }
}

async function deleteTopics(brokers: string, prefix: string): Promise<void> {
  const admin = kafkaClient(brokers, 'bench-cleanup').admin();
  await admin.connect();
  try {
    const mine = (name: string) => name.startsWith(`${prefix}.`);
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter(mine);
    if (groups.length > 0) await admin.deleteGroups(groups).catch(() => {});
    const topics = (await admin.listTopics()).filter(mine);
    if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => {});
  } finally {
    await admin.disconnect();
  }
}

interface KafkaResults {
  stream: GatewayResult;
  rawMsgsPerS: number;
  recordBytes: number;
}

async function runKafka(profileDir?: string): Promise<KafkaResults> {
  const broker = await kafkaBroker();
  const prefix = `bench${Date.now().toString(36)}`;
  const dataDir = tempDir('bench-kafka');
  try {
    const { result: stream } = await runGateway(
      dataDir,
      {
        GATEWAY_BUS: 'kafka',
        KAFKA_BROKERS: broker.brokers,
        KAFKA_TOPIC_PREFIX: prefix,
      },
      profileDir,
    );
    const sample = await sampleRecord(broker.brokers, `${prefix}.deliver.st-melde`);
    const rawMsgsPerS = await rawKafkaRate(broker.brokers, prefix, sample);
    const headerBytes = Object.entries(sample.headers).reduce((n, [k, v]) => n + k.length + v.length, 0);
    return { stream, rawMsgsPerS, recordBytes: sample.value.length + headerBytes };
  } finally {
    await deleteTopics(broker.brokers, prefix).catch(() => {});
    await broker.release();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// --- main ---------------------------------------------------------------------------------------

const ratio = (a: number, b: number) => Number((a / b).toFixed(3));

const p99AtHalfSustained = (r: GatewayResult) =>
  r.latency_below_saturation.find((b) => b.fraction === 0.5)!.p99_ms;

/** The open-loop runs below saturation, one row per mode and fraction. */
function belowSaturationTable(modes: Record<string, GatewayResult>): void {
  const rows: Record<string, Record<string, number>> = {};
  for (const [mode, r] of Object.entries(modes)) {
    for (const b of r.latency_below_saturation) {
      rows[`${mode} @ ${b.fraction * 100} % of ${r.msgs_per_s}/s`] = {
        'offered/s': b.offered_msgs_per_s,
        'achieved/s': b.achieved_msgs_per_s,
        sent: b.sent,
        delivered: b.delivered,
        'p50 ms': b.p50_ms,
        'p99 ms': b.p99_ms,
        'p99.9 ms': b.p999_ms,
      };
    }
  }
  console.table(rows);
}

/** --no-embedded: the Kafka mode alone, to measure and profile it without the other phases. */
async function mainKafkaOnly(): Promise<void> {
  const loadBefore = loadAverage();
  const kafka = await runKafka(values.profile);
  const results = {
    machine: {
      cpus: os.cpus().length,
      node: process.version,
      load_average_before: loadBefore,
      load_average_after: loadAverage(),
    },
    e2e_kafka_msgs_per_s: kafka.stream.msgs_per_s,
    p99_ms_at_half_sustained_kafka: p99AtHalfSustained(kafka.stream),
    kafka: kafka.stream,
    kafka_raw_msgs_per_s: Math.round(kafka.rawMsgsPerS),
    kafka_record_bytes: kafka.recordBytes,
    e2e_kafka_to_raw_ratio: ratio(kafka.stream.msgs_per_s, kafka.rawMsgsPerS),
  };
  mkdirSync(path.dirname(values.out!), { recursive: true });
  writeFileSync(values.out!, `${JSON.stringify(results, null, 2)}\n`);
  console.table({
    'end-to-end Kafka': {
      'msgs/s': kafka.stream.msgs_per_s,
      'CPU ms/msg': kafka.stream.cpu_ms_per_msg,
      'bench CPU ms/msg': kafka.stream.bench_process_cpu_ms_per_msg,
      'RSS MB': kafka.stream.rss_mb_peak,
    },
    [`raw kafkajs produce→consume (${kafka.recordBytes} B)`]: { 'msgs/s': Math.round(kafka.rawMsgsPerS) },
  });
  belowSaturationTable({ Kafka: kafka.stream });
  console.log(`load average ${loadBefore.join(' ')} → ${results.machine.load_average_after.join(' ')}`);
  console.log(`results written to ${path.relative(process.cwd(), values.out!)}`);
}

async function main(): Promise<void> {
  const loadBefore = loadAverage();
  const started = new Date().toISOString();
  const dataDir = tempDir('bench');
  try {
    const { result: embedded, work, pushes } = await runGateway(dataDir, {}, values.profile);
    const sign = await signBaselines(dataDir);
    const bare = values['no-baselines'] ? undefined : await runBareFastify(dataDir);
    const push = bare ? await pushCost(dataDir, pushes.samples, MESSAGES, PARTITIONS) : undefined;
    const kafka = values['no-kafka'] ? undefined : await runKafka();
    const e2eWorst = Math.min(embedded.msgs_per_s, kafka?.stream.msgs_per_s ?? Number.POSITIVE_INFINITY);
    const components =
      bare && push
        ? {
            cores: sign.threads,
            ingressServerCpuMs: bare.cpu_ms_per_msg,
            generatorCpuMs: bare.bench_process_cpu_ms_per_msg,
            signCpuMs: sign.signCpuMs,
            verifyCpuMs: sign.verifyCpuMs,
            pushCpuMs: push.cpuMsPerPush,
            work,
          }
        : undefined;
    const bound = components ? physicalBound(components) : undefined;
    // The embedded gateway's CPU per message and this process's (generator, receiver): what the
    // bound's CPU per message compares with, undisturbed by other load on the machine.
    const e2eCpuMs = embedded.cpu_ms_per_msg + embedded.bench_process_cpu_ms_per_msg;

    const results = {
      machine: {
        cpus: os.cpus().length,
        model: os.cpus()[0]?.model,
        node: process.version,
        started,
        finished: new Date().toISOString(),
        load_average_before: loadBefore,
        load_average_after: loadAverage(),
      },
      method: {
        workload: `mix of three domains, round robin (${SENDERS.join(', ')} → ${RECEIVERS.join(', ')}), JSON native payloads, avg ${averageBytes(mixedPayloads(60))} bytes`,
        messages: MESSAGES,
        concurrency: CONCURRENCY,
        fixed_rate: `${RATE} msgs/s offered for ${values['rate-seconds']} s, open loop, latency from the scheduled send`,
        latency_below_saturation: `the same open loop at ${BELOW_SATURATION.map((f) => `${f * 100} %`).join(', ')} of the mode's sustained rate, each on an idle gateway (previous run drained, receipts handled, ${SETTLE_MS} ms pause)`,
        delivery: 'push to an HTTPS receiver in the bench process (mTLS)',
        load_generator: 'undici Agent per sending system, keep-alive, client certificates',
      },
      e2e_embedded_msgs_per_s: embedded.msgs_per_s,
      ...(kafka ? { e2e_kafka_msgs_per_s: kafka.stream.msgs_per_s } : {}),
      p99_ms_at_1000: embedded.fixed_rate.p99_ms,
      p99_ms_at_half_sustained_embedded: p99AtHalfSustained(embedded),
      ...(kafka ? { p99_ms_at_half_sustained_kafka: p99AtHalfSustained(kafka.stream) } : {}),
      rss_mb_peak: Math.max(embedded.rss_mb_peak, kafka?.stream.rss_mb_peak ?? 0),
      sign_ceiling_msgs_per_s: Math.round(sign.ceiling),
      e2e_to_ceiling_ratio: ratio(e2eWorst, sign.ceiling),
      sign_ratio_vs_raw: Number(sign.ratio.toFixed(3)),
      ...(bound && components && push
        ? {
            physical_bound_msgs_per_s: Math.round(bound.msgsPerS),
            e2e_to_bound_ratio: ratio(e2eWorst, bound.msgsPerS),
            e2e_to_bound_cpu_ratio: ratio(bound.cpuMsPerMessage, e2eCpuMs),
            physical_bound: {
              method:
                'cores × 1000 / Σ count per message × CPU ms per operation; counts from the gateway metrics over the closed loop, CPU (user + system, all threads) from /proc and process.cpuUsage',
              cores: components.cores,
              cpu_ms_per_msg: round3(bound.cpuMsPerMessage),
              per_message: work,
              cpu_ms_per_operation: {
                ingress_request_server: components.ingressServerCpuMs,
                ingress_request_load_generator: components.generatorCpuMs,
                sign: round3(components.signCpuMs),
                verify: round3(components.verifyCpuMs),
                push_client_and_receiver: round3(components.pushCpuMs),
              },
              cpu_ms_per_msg_by_term: Object.fromEntries(
                Object.entries(bound.terms).map(([term, ms]) => [term, round3(ms)]),
              ),
              // The highest e2e_to_ceiling_ratio a gateway could reach here: a message costs the
              // bound's CPU, a raw signature the sign CPU (both undisturbed by other load).
              bound_to_sign_ceiling_ratio: ratio(components.signCpuMs, bound.cpuMsPerMessage),
              raw_push_per_s: Math.round(push.pushesPerS),
              e2e_embedded_cpu_ms_per_msg: round2(e2eCpuMs),
            },
          }
        : {}),
      embedded,
      ...(kafka
        ? {
            kafka: kafka.stream,
            kafka_p99_ms_at_1000: kafka.stream.fixed_rate.p99_ms,
            kafka_raw_msgs_per_s: Math.round(kafka.rawMsgsPerS),
            kafka_record_bytes: kafka.recordBytes,
            e2e_kafka_to_raw_ratio: ratio(kafka.stream.msgs_per_s, kafka.rawMsgsPerS),
          }
        : {}),
      ...(bare
        ? {
            bare_fastify: bare,
            bare_fastify_msgs_per_s: bare.msgs_per_s,
            e2e_embedded_to_bare_ratio: ratio(embedded.msgs_per_s, bare.msgs_per_s),
          }
        : {}),
      sign: {
        key: 'RSA-2048 (the gateway sealing key of this run)',
        threads: sign.threads,
        raw_one_core_ops_per_s: Math.round(sign.rawOneCore),
        signer_one_core_ops_per_s: Math.round(sign.signerOneCore),
      },
    };
    mkdirSync(path.dirname(values.out!), { recursive: true });
    writeFileSync(values.out!, `${JSON.stringify(results, null, 2)}\n`);

    const row = (r: ServerResult) => ({
      'msgs/s': r.msgs_per_s,
      'CPU ms/msg': r.cpu_ms_per_msg,
      'ingress 202/s': r.ingress_msgs_per_s,
      [`p50 @${RATE}/s ms`]: r.fixed_rate.p50_ms,
      [`p99 @${RATE}/s ms`]: r.fixed_rate.p99_ms,
      [`p99.9 @${RATE}/s ms`]: r.fixed_rate.p999_ms,
      'achieved/s': r.fixed_rate.achieved_msgs_per_s,
      'RSS MB': r.rss_mb_peak,
    });
    console.table({
      'end-to-end embedded': row(embedded),
      ...(kafka ? { 'end-to-end Kafka': row(kafka.stream) } : {}),
      ...(bare ? { 'bare fastify route': row(bare) } : {}),
    });
    belowSaturationTable({ embedded, ...(kafka ? { Kafka: kafka.stream } : {}) });
    console.table({
      'raw crypto.sign, all cores (ceiling)': { value: results.sign_ceiling_msgs_per_s, unit: 'sig/s' },
      'end-to-end (worst mode) / ceiling': {
        value: results.e2e_to_ceiling_ratio,
        unit: 'ratio (target ≥ 0.25)',
      },
      'gateway signer / raw sign, 1 core': { value: results.sign_ratio_vs_raw, unit: 'ratio' },
      ...(bound
        ? {
            [`physical bound (unavoidable work, ${sign.threads} cores)`]: {
              value: results.physical_bound_msgs_per_s!,
              unit: 'msgs/s',
            },
            'end-to-end (worst mode) / physical bound': { value: results.e2e_to_bound_ratio!, unit: 'ratio' },
            'physical bound / raw sign ceiling (CPU per message vs per signature)': {
              value: results.physical_bound!.bound_to_sign_ceiling_ratio,
              unit: 'ratio',
            },
            'unavoidable CPU / end-to-end CPU per msg (embedded)': {
              value: results.e2e_to_bound_cpu_ratio!,
              unit: 'ratio',
            },
          }
        : {}),
      ...(kafka
        ? {
            [`raw kafkajs produce→consume (${kafka.recordBytes} B)`]: {
              value: Math.round(kafka.rawMsgsPerS),
              unit: 'msgs/s',
            },
            'end-to-end Kafka / raw kafkajs': { value: results.e2e_kafka_to_raw_ratio!, unit: 'ratio' },
          }
        : {}),
      ...(bare
        ? {
            'end-to-end embedded / bare fastify': {
              value: results.e2e_embedded_to_bare_ratio!,
              unit: 'ratio',
            },
          }
        : {}),
      'load average before → after': {
        value:
          `${loadBefore.join(' ')} → ${results.machine.load_average_after.join(' ')}` as unknown as number,
        unit: '1/5/15 min',
      },
    });
    if (bound && components) {
      const line = (count: number, cpuMs: number, term: number) => ({
        'per message': count,
        'CPU ms each': round3(cpuMs),
        'CPU ms/msg': round3(term),
      });
      console.table({
        'ingress request, server (bare fastify)': line(
          1,
          components.ingressServerCpuMs,
          bound.terms.ingress_server,
        ),
        'ingress request, load generator': line(1, components.generatorCpuMs, bound.terms.load_generator),
        'seal (raw crypto.sign)': line(work.seals, components.signCpuMs, bound.terms.seals),
        'seal verification (raw crypto.verify)': line(
          work.verifications,
          components.verifyCpuMs,
          bound.terms.verifications,
        ),
        'HTTPS push, client + receiver': line(work.pushes, components.pushCpuMs, bound.terms.pushes),
        'unavoidable, total': line(1, bound.cpuMsPerMessage, bound.cpuMsPerMessage),
        'end to end embedded, gateway + bench process': line(1, e2eCpuMs, e2eCpuMs),
      });
    }
    console.log(`results written to ${path.relative(process.cwd(), values.out!)}`);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await (values['no-embedded'] ? mainKafkaOnly() : main());
