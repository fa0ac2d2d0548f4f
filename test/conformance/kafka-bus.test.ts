/**
 * KafkaBus against a real broker (test/setup/kafka.ts starts the local one unless KAFKA_BROKERS is
 * set): the Bus conformance suite, plus interoperability with an independent client (kcat) for keys,
 * headers and values in both directions. Nothing here is skipped: a missing broker or kcat fails.
 */
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KafkaBus, type KafkaBusOptions } from '../../gateway/bus/kafka-bus.ts';
import { createLogger } from '../../gateway/log/logger.ts';
import type {
  BusRecord,
  ConsumedRecord,
  SubscribeOptions,
  Subscription,
  TopicSpec,
} from '../../gateway/ports/bus.ts';
import { runBusConformance } from './bus.conformance.ts';

const execFileAsync = promisify(execFile);

const brokersSetting = (): string => {
  const brokers = inject('kafkaBrokers') ?? process.env.KAFKA_BROKERS;
  if (!brokers) {
    throw new Error(
      'no Kafka broker: add test/setup/kafka.ts to globalSetup in vitest.config.ts, or set KAFKA_BROKERS',
    );
  }
  return brokers;
};
const brokerList = () =>
  brokersSetting()
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);

/** Unique per run, so runs against a shared dev broker never see each other's topics or groups. */
const RUN = `t${Date.now().toString(36)}${randomUUID().slice(0, 4)}`;

const logger = createLogger({ level: process.env.KAFKA_TEST_LOG_LEVEL ?? 'error', name: 'kafka-bus-test' });

/** Remembers the topics and groups it touched, so cleanup can delete exactly those. */
class TrackedKafkaBus extends KafkaBus {
  constructor(
    options: KafkaBusOptions,
    private readonly touched: { topics: Set<string>; groups: Set<string> },
  ) {
    super(options);
  }
  override ensureTopics(topics: TopicSpec[]): Promise<void> {
    for (const t of topics) this.touched.topics.add(t.name);
    return super.ensureTopics(topics);
  }
  override subscribe(options: SubscribeOptions): Promise<Subscription> {
    this.touched.groups.add(options.group);
    for (const t of options.topics) this.touched.topics.add(t);
    return super.subscribe(options);
  }
}

function newBus(clientId: string, touched: { topics: Set<string>; groups: Set<string> }): TrackedKafkaBus {
  return new TrackedKafkaBus(
    {
      brokers: brokerList(),
      clientId: `${RUN}-${clientId}`,
      replicationFactor: 1,
      defaultPartitions: 4,
      logger,
      // A leaving member is noticed within a heartbeat; keep it short for quick rebalances.
      heartbeatIntervalMs: 500,
      sessionTimeoutMs: 10_000,
    },
    touched,
  );
}

async function deleteTouched(touched: { topics: Set<string>; groups: Set<string> }): Promise<void> {
  const admin = new kafkajs.Kafka({
    clientId: `${RUN}-cleanup`,
    brokers: brokerList(),
    logLevel: kafkajs.logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    if (touched.groups.size > 0) await admin.deleteGroups([...touched.groups]).catch(() => {});
    const existing = new Set(await admin.listTopics());
    const topics = [...touched.topics].filter((t) => existing.has(t));
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 10_000 }).catch(() => {});
  } finally {
    await admin.disconnect();
  }
}

runBusConformance('KafkaBus conformance', async () => {
  const touched = { topics: new Set<string>(), groups: new Set<string>() };
  const bus = newBus('main', touched);
  const health = await bus.health();
  if (!health.ok) {
    await bus.close();
    throw new Error(`Kafka at ${brokersSetting()} is not reachable: ${health.detail}`);
  }
  let n = 0;
  return {
    bus,
    newBus: async () => newBus(`other-${++n}`, touched),
    cleanup: () => deleteTouched(touched),
  };
});

// ---------------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

async function kcat(args: string[], input?: string): Promise<string> {
  if (input === undefined) {
    try {
      const { stdout } = await execFileAsync('kcat', ['-b', brokersSetting(), ...args], {
        timeout: 30_000,
        maxBuffer: 16 * 1024 * 1024,
      });
      return stdout;
    } catch (err) {
      throw kcatError(err);
    }
  }
  return new Promise((resolve, reject) => {
    const child = spawn('kcat', ['-b', brokersSetting(), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let errOut = '';
    child.stdout.on('data', (c) => {
      out += c;
    });
    child.stderr.on('data', (c) => {
      errOut += c;
    });
    child.on('error', (err) => reject(kcatError(err)));
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`kcat exited ${code}: ${errOut}`)),
    );
    child.stdin.end(input);
  });
}

function kcatError(err: unknown): Error {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
    return new Error('kcat is not installed (Debian/Ubuntu: apt-get install -y kcat); this test needs it');
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** kcat's `%h` prints headers as `name=value,name=value` (no escaping; the tests avoid `,` and `=`). */
function parseKcatHeaders(h: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (h === '') return out;
  for (const pair of h.split(',')) {
    const eq = pair.indexOf('=');
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

describe('KafkaBus and an independent Kafka client (kcat)', () => {
  const touched = { topics: new Set<string>(), groups: new Set<string>() };
  let bus: TrackedKafkaBus;

  beforeAll(async () => {
    bus = newBus('kcat', touched);
    const health = await bus.health();
    if (!health.ok) throw new Error(`Kafka at ${brokersSetting()} is not reachable: ${health.detail}`);
    await kcat(['-V']).catch((err: unknown) => {
      // -V needs no broker; ENOENT means kcat is missing.
      throw kcatError(err);
    });
  });

  afterAll(async () => {
    await bus?.close();
    await deleteTouched(touched);
  });

  it('kcat sees the key, headers and value KafkaBus published', async () => {
    const topic = `${RUN}.deliver.st-melde`;
    await bus.ensureTopics([{ name: topic, partitions: 3 }]);
    const sent: BusRecord[] = [
      {
        topic,
        key: 'ags:14612000/Fall-4711',
        value: Buffer.from('<xmeld:nachricht>Grüße aus Dresden</xmeld:nachricht>'),
        headers: {
          'gw-message-id': randomUUID(),
          'gw-message-type': 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
          'gw-sender': 'ags:14612000',
          traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        },
      },
      {
        topic,
        key: 'ags:15003000/Fall-0815',
        value: Buffer.from('zweite Nachricht'),
        headers: { 'gw-message-id': randomUUID(), 'gw-receiver': 'ags:16051000' },
      },
    ];
    await bus.publish(sent);

    const out = await kcat(['-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%k|%h|%s\n']);
    const lines = out.split('\n').filter((l) => l.length > 0);
    expect(lines).toHaveLength(2);
    const seen = lines.map((line) => {
      const [key, headers, ...value] = line.split('|');
      return { key, headers: parseKcatHeaders(headers ?? ''), value: value.join('|') };
    });
    for (const s of sent) {
      const r = seen.find((x) => x.key === s.key);
      expect(r, `kcat did not show key ${s.key}: ${out}`).toBeDefined();
      expect(r!.headers).toEqual(s.headers);
      expect(r!.value).toBe(s.value.toString('utf8'));
    }
  });

  it('KafkaBus consumes what kcat produced, with its key and headers', async () => {
    const topic = `${RUN}.from-kcat`;
    await bus.ensureTopics([{ name: topic, partitions: 2 }]);
    await kcat(
      ['-P', '-t', topic, '-k', 'Fall-42', '-H', 'gw-message-id=m-1', '-H', 'gw-sender=ags:14612000'],
      'von kcat\n',
    );
    const got: ConsumedRecord[] = [];
    const sub = await bus.subscribe({
      group: `${RUN}.kcat-reader`,
      topics: [topic],
      handler: async (r) => {
        got.push(r);
      },
    });
    try {
      await waitFor('the record kcat produced', () => got.length >= 1);
      expect(got).toHaveLength(1);
      expect(got[0]!.key).toBe('Fall-42');
      expect(got[0]!.value.toString('utf8')).toBe('von kcat');
      expect(got[0]!.headers).toEqual({ 'gw-message-id': 'm-1', 'gw-sender': 'ags:14612000' });
    } finally {
      await sub.close();
    }
  });
});

describe('KafkaBus failure modes', () => {
  it('refuses work after close', async () => {
    const touched = { topics: new Set<string>(), groups: new Set<string>() };
    const bus = newBus('closed', touched);
    expect((await bus.health()).ok).toBe(true);
    await bus.close();
    await expect(
      bus.publish([{ topic: `${RUN}.closed`, key: 'k', value: Buffer.from('v'), headers: {} }]),
    ).rejects.toMatchObject({
      code: 'GW_ERR_BUS_UNAVAILABLE',
    });
    expect((await bus.health()).ok).toBe(false);
    await bus.close();
  });

  it('rejects a publish it cannot get acknowledged ("maybe not published") and reports unhealthy', async () => {
    // Nothing listens on port 1: the broker is away.
    const bus = new KafkaBus({
      brokers: ['127.0.0.1:1'],
      clientId: `${RUN}-away`,
      replicationFactor: 1,
      defaultPartitions: 1,
      logger,
      publishTimeoutMs: 1500,
      healthTimeoutMs: 1000,
    });
    try {
      const started = Date.now();
      const health = await bus.health();
      expect(health.ok).toBe(false);
      expect(Date.now() - started).toBeLessThan(5000);
      await expect(
        bus.publish([{ topic: `${RUN}.away`, key: 'k', value: Buffer.from('v'), headers: {} }]),
      ).rejects.toMatchObject({
        code: 'GW_ERR_BUS_UNAVAILABLE',
      });
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await bus.close();
    }
  });
});

describe('KafkaBus at rest', () => {
  /** How often this thread blocked and was woken again (its event loop waiting for the next event). */
  const wakeUps = (): number => {
    const status = readFileSync('/proc/thread-self/status', 'utf8');
    return Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status)?.[1]);
  };

  it('does not wake the event loop every millisecond once its connections are idle', async () => {
    const touched = { topics: new Set<string>(), groups: new Set<string>() };
    const bus = newBus('at-rest', touched);
    const topic = `${RUN}.at-rest`;
    const got: ConsumedRecord[] = [];
    const sub = await bus.subscribe({
      group: `${RUN}.at-rest-reader`,
      topics: [topic],
      handler: async (r) => {
        got.push(r);
      },
    });
    try {
      // Producer, fetch and coordinator connections have all had responses: kafkajs 2.2.4's request
      // queue then re-arms a 1 ms timer for ever on each of them (about 1000 wake-ups per second).
      await bus.publish([{ topic, key: 'k', value: Buffer.from('v'), headers: {} }]);
      await waitFor('the record', () => got.length === 1);
      const before = wakeUps();
      await sleep(1000);
      // At rest the bus has its long-polling fetches, heartbeats and kafkajs' request-timeout checks
      // (every 100 ms per connection) to wake up for: a few dozen times a second.
      expect(wakeUps() - before).toBeLessThan(300);
    } finally {
      await sub.close();
      await bus.close();
      await deleteTouched(touched);
    }
  });
});
