/**
 * In-process A/B of the delivery stage against an earlier tree: main-process CPU per delivered
 * message (push mode, the bench's mix) for the DeliveryWorker, its SQLite mailbox store and its push
 * client. Old and new run alternately in this one process, several rounds, each on fresh files; CPU
 * is the main thread's (/proc/self/task/<pid>/stat, 10 ms ticks) and the whole process's
 * (process.cpuUsage: the thread pool's fsyncs included). The receiver runs in a child process, so its
 * CPU is not counted.
 *
 *   git archive <rev> gateway adapters standards | tar -x -C DIR && ln -s "$PWD/node_modules" DIR/node_modules
 *   node --import tsx test/bench/delivery-ab.ts --baseline DIR [--candidate DIR] [--rounds 5] [--messages 2000]
 *        [--partitions 16]
 *
 * --candidate: the tree under test (default this one); e.g. the baseline with only the delivery
 * stage's files copied over, when other parts of the working tree change at the same time.
 *
 * What both trees share, so that only the delivery stage differs: the sealed records (made once with
 * the gateway's signer), the seal verifier, the adapters, the audit log and its SQLite store, the
 * metrics — all from the baseline tree. What each tree brings: pipeline/delivery.ts and what it
 * imports, mailbox/sqlite-mailbox-store.ts, delivery/push-client.ts, delivery/circuit-breaker.ts.
 *
 * The records go to the worker's deliver-topic handler as the bus hands them: one partition's
 * records one after the other, all partitions at once. Counted: statements run on the mailbox file.
 */
import { fork } from 'node:child_process';
import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import type * as RegistryModule from '../../adapters/sdk/registry.ts';
import type * as AuditLogModule from '../../gateway/audit/audit-log.ts';
import type * as AuditStoreModule from '../../gateway/audit/sqlite-audit-store.ts';
import type * as TopicsModule from '../../gateway/bus/topics.ts';
import type * as BreakerModule from '../../gateway/delivery/circuit-breaker.ts';
import type * as PushModule from '../../gateway/delivery/push-client.ts';
import type { Directory } from '../../gateway/directory/directory.ts';
import type * as RoutingModule from '../../gateway/directory/routing-config.ts';
import type * as LoggerModule from '../../gateway/log/logger.ts';
import type * as MailboxModule from '../../gateway/mailbox/sqlite-mailbox-store.ts';
import type * as MetricsModule from '../../gateway/observability/metrics.ts';
import type * as InstrumentsModule from '../../gateway/observability/pipeline.ts';
import type * as DeliveryModule from '../../gateway/pipeline/delivery.ts';
import type * as BootstrapModule from '../../gateway/pki/bootstrap.ts';
import type { ConsumedRecord, SubscribeOptions, Subscription } from '../../gateway/ports/bus.ts';
import type * as ReceiptEncodingModule from '../../gateway/receipts/receipt-encoding.ts';
import type * as OwnSealModule from '../../gateway/signing/own-seal.ts';
import type * as SignerModule from '../../gateway/signing/signer.ts';
import type * as CatalogueModule from '../../standards/index.ts';
import type * as CodecModule from '../../standards/xoev/xml-codec.ts';
import { pushContracts, TEST_PASSPHRASE } from '../support/gateway.ts';
import { median } from './support/alternating-rounds.ts';
import { mixedPayloads, RECEIVERS } from './workload.ts';

/** CPU time of this process's main thread (its task has the process id), µs; 10 ms ticks. */
function mainThreadCpuMicros(): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat (utime, stime), counted from the state field (3).
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS_PER_SECOND;
}
const CLOCK_TICKS_PER_SECOND = 100;

// --- the receiver (child process) --------------------------------------------------------------

if (process.argv[2] === '--receiver') {
  const [key, cert, ca] = JSON.parse(process.env.AB_RECEIVER_TLS!) as string[];
  const server = createServer({ key, cert, ca, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    req.on('data', () => {});
    req.on('end', () => {
      res.writeHead(200, { 'content-length': '0' });
      res.end();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send!((server.address() as AddressInfo).port));
  process.on('disconnect', () => process.exit(0));
} else {
  await main();
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    args: process.argv.slice(2),
    options: {
      baseline: { type: 'string' },
      /** The tree under test; default this one. */
      candidate: { type: 'string' },
      rounds: { type: 'string', default: '5' },
      messages: { type: 'string', default: '2000' },
      partitions: { type: 'string', default: '16' },
    },
  });
  if (!args.baseline)
    throw new Error('--baseline DIR (an earlier tree with node_modules linked) is required');
  const ROUNDS = Number(args.rounds);
  const MESSAGES = Number(args.messages);
  const PARTITIONS = Number(args.partitions);
  const REPO = path.resolve(import.meta.dirname, '../..');
  const BASE = path.resolve(args.baseline);

  // Statements run on the mailbox file; both trees load the same better-sqlite3, so one patch counts both.
  const counted = { mailboxStatements: 0 };
  {
    const probe = new Database(':memory:');
    const proto = Object.getPrototypeOf(probe.prepare('SELECT 1')) as Record<
      'all' | 'get' | 'run',
      (...a: unknown[]) => unknown
    >;
    probe.close();
    for (const method of ['all', 'get', 'run'] as const) {
      const original = proto[method]!;
      proto[method] = function (this: { database: { name: string } }, ...a: unknown[]) {
        if (this.database.name.endsWith('mailbox.sqlite')) counted.mailboxStatements++;
        return original.apply(this, a);
      };
    }
  }

  const importFrom = async <T>(root: string, file: string): Promise<T> =>
    (await import(pathToFileURL(path.join(root, file)).href)) as T;

  // --- shared: PKI, receiver, sealed records, verifier, adapters, audit (baseline tree) ----------
  const work = mkdtempSync(path.join(os.tmpdir(), 'ab-delivery-'));
  const bootstrap = await importFrom<typeof BootstrapModule>(BASE, 'gateway/pki/bootstrap.ts');
  const loggerModule = await importFrom<typeof LoggerModule>(BASE, 'gateway/log/logger.ts');
  const logger = loggerModule.createLogger({ level: 'warn' });
  const registry = await importFrom<typeof RegistryModule>(BASE, 'adapters/sdk/registry.ts');
  const receiptEncoding = await importFrom<typeof ReceiptEncodingModule>(
    BASE,
    'gateway/receipts/receipt-encoding.ts',
  );
  const adapters = receiptEncoding.registryWithReceiptFallback(await registry.discoverAdapters());
  const routingModule = await importFrom<typeof RoutingModule>(BASE, 'gateway/directory/routing-config.ts');
  const baseDirectory = new routingModule.RoutingConfig(
    path.join(REPO, 'contracts'),
    (id) => adapters.get(id) !== undefined,
    logger,
  ).directory;
  const pki = await bootstrap.ensurePki({
    dir: path.join(work, 'pki'),
    systems: baseDirectory.systems.map((s) => s.id),
    passphrase: TEST_PASSPHRASE,
    signingAlgorithm: 'rsa-sha256',
    rsaBits: 2048,
    serverNames: ['localhost', '127.0.0.1'],
  });
  const receiverCert = pki.issue({
    commonName: 'ab receiver',
    sanIps: ['127.0.0.1'],
    usage: 'server',
    days: 1,
    keyAlgorithm: 'ec-p256',
  });
  const receiver = fork(import.meta.filename, ['--receiver'], {
    execArgv: ['--import', 'tsx'],
    env: {
      ...process.env,
      AB_RECEIVER_TLS: JSON.stringify([receiverCert.keyPem, receiverCert.certPem, pki.caCertPem]),
    },
  });
  const port = await new Promise<number>((resolve) => receiver.once('message', (m) => resolve(m as number)));
  const url = `https://127.0.0.1:${port}/inbound`;
  const directory = new routingModule.RoutingConfig(
    pushContracts(Object.fromEntries(RECEIVERS.map((id) => [id, url])), path.join(work, 'contracts')),
    (id) => adapters.get(id) !== undefined,
    logger,
  ).directory as unknown as Directory;

  const signerModule = await importFrom<typeof SignerModule>(BASE, 'gateway/signing/signer.ts');
  const codec = await importFrom<typeof CodecModule>(BASE, 'standards/xoev/xml-codec.ts');
  const standards = await importFrom<typeof CatalogueModule>(BASE, 'standards/index.ts');
  const signer = new signerModule.DocumentSigner({
    privateKey: pki.signing.privateKey,
    certPem: pki.signing.certPem,
    algorithm: pki.signing.algorithm,
  });
  const adapterContext = {
    newUUID: randomUUID,
    now: () => new Date(),
    messageType: (standard: string, version: string, name: string) =>
      standards.catalogue.messageType(standard, version, name)!,
  };
  const topics = await importFrom<typeof TopicsModule>(BASE, 'gateway/bus/topics.ts');
  const PREFIX = 'ab';

  /** The mix, decoded, validated and sealed as ingress does, as deliver-topic records. */
  function sealedRecords(n: number): Array<{ systemId: string; record: ConsumedRecord }> {
    const offsets = new Map<string, number>();
    return mixedPayloads(n).map((p) => {
      const sender = adapters.get(directory.system(p.systemId)!.adapter)!;
      const [decoded] = sender.decode(
        { body: Buffer.from(p.body), contentType: p.contentType },
        adapterContext as never,
      );
      const message = codec.validateMessage(decoded!.spec, decoded!.message);
      const head = message['nachrichtenkopf.g2g'];
      const to = directory.systemFor(head.leser.kennung)!;
      const signed = signer.signCanonical(codec.toCanonicalXml(decoded!.spec, message));
      const key = head['identifikation.nachricht'].nachrichtenUUID;
      const partition = createHash('sha256').update(key).digest().readUInt32BE(0) % PARTITIONS;
      const topic = topics.deliverTopic(PREFIX, to.id);
      const at = `${topic}/${partition}`;
      const offset = offsets.get(at) ?? 0;
      offsets.set(at, offset + 1);
      return {
        systemId: to.id,
        record: {
          topic,
          partition,
          offset: String(offset),
          key,
          value: Buffer.from(signed),
          headers: {
            [topics.HEADER.messageId]: key,
            [topics.HEADER.senderSystem]: p.systemId,
            [topics.HEADER.messageType]: decoded!.spec.id,
          },
          timestamp: Date.now(),
        },
      };
    });
  }

  const ownSeal = await importFrom<typeof OwnSealModule>(BASE, 'gateway/signing/own-seal.ts');
  const verifyOptions = {
    trustAnchors: [pki.caX509],
    pinned: [new X509Certificate(pki.signing.certPem)],
    isRevoked: () => false,
  };
  const auditLogModule = await importFrom<typeof AuditLogModule>(BASE, 'gateway/audit/audit-log.ts');
  const auditStoreModule = await importFrom<typeof AuditStoreModule>(
    BASE,
    'gateway/audit/sqlite-audit-store.ts',
  );
  const metricsModule = await importFrom<typeof MetricsModule>(BASE, 'gateway/observability/metrics.ts');
  const instrumentsModule = await importFrom<typeof InstrumentsModule>(
    BASE,
    'gateway/observability/pipeline.ts',
  );
  const instruments = new instrumentsModule.PipelineInstruments(metricsModule.createMetrics());

  async function loadTree(root: string) {
    return {
      delivery: await importFrom<typeof DeliveryModule>(root, 'gateway/pipeline/delivery.ts'),
      mailbox: await importFrom<typeof MailboxModule>(root, 'gateway/mailbox/sqlite-mailbox-store.ts'),
      push: await importFrom<typeof PushModule>(root, 'gateway/delivery/push-client.ts'),
      breakers: await importFrom<typeof BreakerModule>(root, 'gateway/delivery/circuit-breaker.ts'),
    };
  }
  type Tree = Awaited<ReturnType<typeof loadTree>>;

  async function deliveryRun(tree: Tree, n: number): Promise<Record<string, number>> {
    const dir = mkdtempSync(path.join(work, 'run-'));
    // The first record of each partition opens its connection untimed (TLS handshakes are not per message).
    const all = sealedRecords(n + PARTITIONS);
    const records = all.slice(PARTITIONS);
    const handlers = new Map<string, (record: ConsumedRecord) => Promise<void>>();
    const published: unknown[] = [];
    const bus = {
      ensureTopics: async () => {},
      subscribe: async (options: SubscribeOptions): Promise<Subscription> => {
        handlers.set(options.group, options.handler);
        return { close: async () => {} } as unknown as Subscription;
      },
      publish: async (batch: unknown[]) => {
        published.push(...batch);
        return [];
      },
    };
    const mailbox = new tree.mailbox.SqliteMailboxStore({ file: path.join(dir, 'mailbox.sqlite') });
    const auditStore = new auditStoreModule.SqliteAuditStore({ file: path.join(dir, 'audit.sqlite') });
    const audit = new auditLogModule.AuditLog(auditStore, {});
    const pusher = new tree.push.PushClient({
      certPem: pki.gatewayClient.certPem,
      keyPem: pki.gatewayClient.keyPem,
      caPems: [pki.caCertPem],
      timeoutMs: 30_000,
    });
    const breakers = new tree.breakers.CircuitBreakers({
      consecutiveFailures: 5,
      failureRate: 0.5,
      minPushesInWindow: 20,
      windowMs: 30_000,
      coolDownMs: 10_000,
    } as ConstructorParameters<typeof tree.breakers.CircuitBreakers>[0]);
    const worker = new tree.delivery.DeliveryWorker({
      bus: bus as never,
      directory: () => directory as never,
      adapters: adapters as never,
      mailbox: mailbox as never,
      audit: audit as never,
      pusher,
      breakers,
      verify: (xml) => ownSeal.verifySeal(xml, verifyOptions) as never,
      adapterContext: adapterContext as never,
      topicPrefix: PREFIX,
      partitions: PARTITIONS,
      redeliveryDelayMs: 1_000,
      retry: { baseDelayMs: 1_000, maxDelayMs: 60_000, maxAttempts: 10, maxAgeMs: 3_600_000 },
      logger: logger as never,
      instruments: instruments as never,
    });
    await worker.start();
    const byPartition = new Map<string, Array<{ systemId: string; record: ConsumedRecord }>>();
    for (const r of records) {
      const at = `${r.record.topic}/${r.record.partition}`;
      byPartition.set(at, [...(byPartition.get(at) ?? []), r]);
    }
    const handlerOf = (systemId: string) => handlers.get(topics.deliveryGroup(PREFIX, systemId))!;
    try {
      await Promise.all(all.slice(0, PARTITIONS).map(({ systemId, record }) => handlerOf(systemId)(record)));
      const timed = [...byPartition.values()];
      counted.mailboxStatements = 0;
      const mainBefore = mainThreadCpuMicros();
      const before = process.cpuUsage();
      await Promise.all(
        timed.map(async (queue) => {
          for (const { systemId, record } of queue) await handlerOf(systemId)(record);
        }),
      );
      const used = process.cpuUsage(before);
      const mainUsed = mainThreadCpuMicros() - mainBefore;
      if (published.length > 0) throw new Error(`${published.length} records were parked: not all delivered`);
      return {
        mainThreadCpuUsPerMessage: mainUsed / n,
        cpuUsPerMessage: (used.user + used.system) / n,
        mailboxStatementsPerMessage: counted.mailboxStatements / n,
      };
    } finally {
      await worker.stop();
      await pusher.close();
      await mailbox.close();
      await auditStore.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const ratiosOf = (key: string) => {
    const ratios = results.new.map((r, i) => r[key]! / results.old[i]![key]!);
    return `median of the rounds' ratios ${median(ratios).toFixed(3)} (rounds: ${ratios.map((x) => x.toFixed(2)).join(' ')})`;
  };
  const trees = {
    old: await loadTree(BASE),
    new: await loadTree(args.candidate ? path.resolve(args.candidate) : REPO),
  };
  // Untimed warm-up runs (JIT): the CPU per message keeps falling over the first few thousand.
  for (let i = 0; i < 2; i++) {
    await deliveryRun(trees.old, 1000);
    await deliveryRun(trees.new, 1000);
  }
  const results: Record<'old' | 'new', Array<Record<string, number>>> = { old: [], new: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of round % 2 === 0 ? (['old', 'new'] as const) : (['new', 'old'] as const)) {
      const r = await deliveryRun(trees[name], MESSAGES);
      results[name].push(r);
      console.log(`round ${round + 1} ${name}: ${JSON.stringify(r)}`);
    }
  }
  const summary = Object.fromEntries(
    (['old', 'new'] as const).map((name) => [
      name,
      Object.fromEntries(
        Object.keys(results[name][0]!).map((k) => [
          k,
          Number(median(results[name].map((r) => r[k]!)).toFixed(3)),
        ]),
      ),
    ]),
  );
  console.table(summary);
  // Each round's own ratio: the level drifts with the machine's load, a round's pair shares it.
  console.log(`main-thread CPU per delivered message, new / old: ${ratiosOf('mainThreadCpuUsPerMessage')}`);
  console.log(`process CPU per delivered message, new / old: ${ratiosOf('cpuUsPerMessage')}`);
  receiver.disconnect();
  rmSync(work, { recursive: true, force: true });
}
