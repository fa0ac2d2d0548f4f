/**
 * npm run bench — end-to-end throughput and latency of the gateway, embedded and on Kafka, in one
 * run, each beside its ceiling measured in the same run: the raw signing rate of the same key, and
 * the raw kafkajs produce→consume rate for the same record size.
 *
 * Method: the gateway runs as its own process (`gw start`, exactly as operators run it), first on the
 * embedded default (SQLite bus), then with GATEWAY_BUS=kafka on the local broker (started through
 * deploy/kafka/local.sh's lease unless KAFKA_BROKERS names one); st-melde is switched to push mode to
 * a receiver in this process, so "delivered" is the moment the receiver gets the native payload. The
 * load generator sends Rückmeldungen as sn-melde over HTTPS with its client certificate, keep-alive,
 * a fixed number in flight.
 * Raw Kafka: an idempotent kafkajs producer (acks=all, like the gateway's) sends records with the
 * value and headers of a real record from the gateway's deliver topic, 100 per request, to a topic
 * with the same partition count, while a consumer group reads them; the rate is records / (first
 * send → last record consumed).
 * Options: --messages N (default 3000), --concurrency C (default 32), --out FILE (default bench/results.json),
 * --profile DIR (write a V8 CPU profile of the gateway process there; open it in Chrome DevTools),
 * --no-kafka (embedded only).
 */
import { spawn } from 'node:child_process';
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import kafkajs from 'kafkajs';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { decryptPrivateKeyPem } from '../../gateway/pki/ca.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { contractsWith, TEST_PASSPHRASE, tempDir } from '../support/gateway.ts';
import { startPushReceiver } from '../support/push-receiver.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '32' },
    out: { type: 'string', default: path.join(REPO_ROOT, 'bench/results.json') },
    profile: { type: 'string' },
    'no-kafka': { type: 'boolean', default: false },
  },
});
const MESSAGES = Number(values.messages);
const CONCURRENCY = Number(values.concurrency);
/** The gateway's default partition count per deliver topic (config bus.partitions). */
const PARTITIONS = 16;
const RAW_BATCH = 100;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Raw RSA signatures per second on one core, same key as the gateway's seal, 1 s of work. */
function rawSignRate(keyPem: string): number {
  const key = createPrivateKey(keyPem);
  const data = Buffer.alloc(1024, 7);
  const started = process.hrtime.bigint();
  let n = 0;
  while (process.hrtime.bigint() - started < 1_000_000_000n) {
    sign('sha256', data, key);
    n++;
  }
  return n / (Number(process.hrtime.bigint() - started) / 1e9);
}

interface StreamResult {
  dataDir: string;
  e2eMsgsPerS: number;
  ingressMsgsPerS: number;
  p50Ms: number;
  p99Ms: number;
  ingressP99Ms: number;
  rssMbPeak: number;
}

/** One gateway process, one stream of MESSAGES Rückmeldungen through it to a push receiver. */
async function runStream(extraEnv: Record<string, string>, profileDir?: string): Promise<StreamResult> {
  const dataDir = tempDir('bench');
  const sentAt = new Map<string, bigint>();
  const latenciesMs: number[] = [];
  let lastDelivery = 0n;
  let onAllDelivered: () => void = () => {};
  const allDelivered = new Promise<void>((resolve) => {
    onAllDelivered = resolve;
  });
  const receiver = await startPushReceiver(dataDir, (request) => {
    const started = sentAt.get(request.messageId);
    if (started !== undefined) {
      lastDelivery = process.hrtime.bigint();
      latenciesMs.push(Number(lastDelivery - started) / 1e6);
      sentAt.delete(request.messageId);
      if (latenciesMs.length === MESSAGES) onAllDelivered();
    }
    return 204;
  });
  const contractsDir = contractsWith((systems) =>
    systems.map((s) =>
      s.id === 'st-melde' ? { ...s, delivery: { mode: 'push' as const, url: receiver.url } } : s,
    ),
  );

  const gatewayPort = 20000 + Math.floor(Math.random() * 20000);
  const profileArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profileDir)}`] : [];
  const child = spawn(process.execPath, [...profileArgs, path.join(REPO_ROOT, 'bin/gw.js'), 'start'], {
    env: {
      ...process.env,
      GATEWAY_DATA_DIR: dataDir,
      GATEWAY_CONTRACTS_DIR: contractsDir,
      GATEWAY_PORT: String(gatewayPort),
      GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
      GATEWAY_LOG_LEVEL: 'warn',
      GATEWAY_BUS_PARTITIONS: String(PARTITIONS),
      ...extraEnv,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const baseUrl = `https://127.0.0.1:${gatewayPort}`;
  const client = SystemClient.forSystem(baseUrl, dataDir, 'sn-melde', { connections: CONCURRENCY });
  let peakRssMb = 0;
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await client.call('GET', '/health/ready')).status === 200) break;
      } catch {}
      if (i > 600) throw new Error('gateway did not become ready');
      await new Promise((r) => setTimeout(r, 100));
    }
    const rssTimer = setInterval(() => {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
        peakRssMb = Math.max(peakRssMb, kb / 1024);
      } catch {}
    }, 100);

    // Warm-up: JIT, TLS sessions, SQLite caches, Kafka connections and group joins.
    for (let i = 0; i < 50; i++) await client.send('sn-melde', rueckmeldung().body, 'application/json');
    await new Promise((r) => setTimeout(r, 1000));
    latenciesMs.length = 0;

    const bodies = Array.from({ length: MESSAGES }, () => rueckmeldung());
    const ingressMs: number[] = [];
    let next = 0;
    let failures = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < MESSAGES; i = next++) {
          const m = bodies[i]!;
          const t0 = process.hrtime.bigint();
          sentAt.set(m.id, t0);
          const r = await client.send('sn-melde', m.body, 'application/json');
          ingressMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
          if (r.status !== 202) failures++;
        }
      }),
    );
    const ingressDone = process.hrtime.bigint();
    await Promise.race([allDelivered, new Promise((r) => setTimeout(r, 120_000))]);
    clearInterval(rssTimer);
    if (failures > 0 || latenciesMs.length !== MESSAGES) {
      throw new Error(`${failures} requests failed, ${latenciesMs.length}/${MESSAGES} delivered`);
    }
    const seconds = Number(lastDelivery - started) / 1e9;
    latenciesMs.sort((a, b) => a - b);
    ingressMs.sort((a, b) => a - b);
    return {
      dataDir,
      e2eMsgsPerS: Math.round(MESSAGES / seconds),
      ingressMsgsPerS: Math.round(MESSAGES / (Number(ingressDone - started) / 1e9)),
      p50Ms: Number(percentile(latenciesMs, 50).toFixed(1)),
      p99Ms: Number(percentile(latenciesMs, 99).toFixed(1)),
      ingressP99Ms: Number(percentile(ingressMs, 99).toFixed(1)),
      rssMbPeak: Math.round(peakRssMb),
    };
  } finally {
    await client.close();
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    await receiver.close();
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
  stream: StreamResult;
  rawMsgsPerS: number;
  recordBytes: number;
}

async function runKafka(): Promise<KafkaResults> {
  const broker = await kafkaBroker();
  const prefix = `bench${Date.now().toString(36)}`;
  try {
    const stream = await runStream({
      GATEWAY_BUS: 'kafka',
      KAFKA_BROKERS: broker.brokers,
      KAFKA_TOPIC_PREFIX: prefix,
    });
    const sample = await sampleRecord(broker.brokers, `${prefix}.deliver.st-melde`);
    const rawMsgsPerS = await rawKafkaRate(broker.brokers, prefix, sample);
    const headerBytes = Object.entries(sample.headers).reduce((n, [k, v]) => n + k.length + v.length, 0);
    return { stream, rawMsgsPerS, recordBytes: sample.value.length + headerBytes };
  } finally {
    await deleteTopics(broker.brokers, prefix).catch(() => {});
    await broker.release();
  }
}

// --- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const embedded = await runStream({}, values.profile);
  const signCeiling = rawSignRate(
    decryptPrivateKeyPem(
      readFileSync(path.join(embedded.dataDir, 'pki', 'signing.key'), 'utf8'),
      TEST_PASSPHRASE,
    ),
  );
  const kafka = values['no-kafka'] ? undefined : await runKafka();

  const results = {
    machine: {
      cpus: os.cpus().length,
      model: os.cpus()[0]?.model,
      node: process.version,
      date: new Date().toISOString(),
    },
    method: {
      messages: MESSAGES,
      concurrency: CONCURRENCY,
      mode: 'embedded (SQLite bus), push delivery to a local HTTPS receiver',
      ...(kafka
        ? {
            kafka_mode:
              'GATEWAY_BUS=kafka on the local single-node broker, same stream; raw: kafkajs idempotent producer ' +
              `(acks=all, ${RAW_BATCH} records per request) → consumer group, same record value and headers`,
          }
        : {}),
    },
    e2e_embedded_msgs_per_s: embedded.e2eMsgsPerS,
    ingress_msgs_per_s: embedded.ingressMsgsPerS,
    p50_ms: embedded.p50Ms,
    p99_ms: embedded.p99Ms,
    ingress_p99_ms: embedded.ingressP99Ms,
    rss_mb_peak: embedded.rssMbPeak,
    sign_ceiling_one_core_msgs_per_s: Math.round(signCeiling),
    e2e_to_one_core_sign_ratio: Number((embedded.e2eMsgsPerS / signCeiling).toFixed(3)),
    ...(kafka
      ? {
          e2e_kafka_msgs_per_s: kafka.stream.e2eMsgsPerS,
          kafka_ingress_msgs_per_s: kafka.stream.ingressMsgsPerS,
          kafka_p50_ms: kafka.stream.p50Ms,
          kafka_p99_ms: kafka.stream.p99Ms,
          kafka_ingress_p99_ms: kafka.stream.ingressP99Ms,
          kafka_rss_mb_peak: kafka.stream.rssMbPeak,
          kafka_record_bytes: kafka.recordBytes,
          kafka_raw_msgs_per_s: Math.round(kafka.rawMsgsPerS),
          e2e_kafka_to_raw_ratio: Number((kafka.stream.e2eMsgsPerS / kafka.rawMsgsPerS).toFixed(3)),
        }
      : {}),
  };
  mkdirSync(path.dirname(values.out!), { recursive: true });
  writeFileSync(values.out!, `${JSON.stringify(results, null, 2)}\n`);
  const table: Record<string, { value: number; unit: string }> = {
    'end-to-end (embedded)': { value: results.e2e_embedded_msgs_per_s, unit: 'msgs/s' },
    'ingress (202s)': { value: results.ingress_msgs_per_s, unit: 'msgs/s' },
    'latency p50 (send → delivered)': { value: results.p50_ms, unit: 'ms' },
    'latency p99 (send → delivered)': { value: results.p99_ms, unit: 'ms' },
    'peak RSS of the gateway': { value: results.rss_mb_peak, unit: 'MB' },
    'raw RSA-2048 crypto.sign, 1 core': { value: results.sign_ceiling_one_core_msgs_per_s, unit: 'sig/s' },
    'end-to-end / raw sign (1 core)': { value: results.e2e_to_one_core_sign_ratio, unit: 'ratio' },
  };
  if (kafka) {
    Object.assign(table, {
      'end-to-end (Kafka)': { value: kafka.stream.e2eMsgsPerS, unit: 'msgs/s' },
      'Kafka: ingress (202s)': { value: kafka.stream.ingressMsgsPerS, unit: 'msgs/s' },
      'Kafka: latency p50': { value: kafka.stream.p50Ms, unit: 'ms' },
      'Kafka: latency p99': { value: kafka.stream.p99Ms, unit: 'ms' },
      'Kafka: peak RSS of the gateway': { value: kafka.stream.rssMbPeak, unit: 'MB' },
      [`raw kafkajs produce→consume (${kafka.recordBytes} B)`]: {
        value: Math.round(kafka.rawMsgsPerS),
        unit: 'msgs/s',
      },
      'end-to-end Kafka / raw kafkajs': { value: results.e2e_kafka_to_raw_ratio!, unit: 'ratio' },
    });
  }
  console.table(table);
  console.log(`results written to ${path.relative(process.cwd(), values.out!)}`);
}

await main();
