/**
 * SqliteBus: the Bus conformance suite on a temp file, plus what only the embedded bus can show
 * directly: durability across reopening, a crashed (SIGKILLed) member in another process, group
 * commit, and Kafka-compatible partitioning.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import kafkajs from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { partitionFor, SqliteBus } from '../../gateway/bus/sqlite-bus.ts';
import type { BusRecord, ConsumedRecord } from '../../gateway/ports/bus.ts';
import { runBusConformance } from './bus.conformance.ts';

// Short leases and heartbeats keep rebalancing and crash takeover fast in tests.
const FAST = { leaseTtlMs: 1000, heartbeatMs: 100 };
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUS_MODULE = new URL('../../gateway/bus/sqlite-bus.ts', import.meta.url).href;

const dirs: string[] = [];
function tempFile(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sqlite-bus-'));
  dirs.push(dir);
  return path.join(dir, 'bus.db');
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}
/** Counts the bus's record fetches (SELECTs on the records table) on every better-sqlite3 connection. */
function countRecordFetches(): { readonly count: number; restore(): void } {
  const probe = new Database(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('SELECT 1')) as {
    all: (this: { source: string }, ...args: unknown[]) => unknown;
  };
  probe.close();
  const all = proto.all;
  const counter = {
    count: 0,
    restore: () => {
      proto.all = all;
    },
  };
  proto.all = function (...args) {
    if (this.source.startsWith('SELECT offset, key')) counter.count++;
    return all.apply(this, args);
  };
  return counter;
}
const record = (topic: string, key: string, id: string): BusRecord => ({
  topic,
  key,
  value: Buffer.from(`value of ${id}`),
  headers: { id },
});

/** Subscribes `group` to `topic`; the array fills with what the group is handed, in order. */
async function collect(bus: SqliteBus, group: string, topic: string): Promise<ConsumedRecord[]> {
  const got: ConsumedRecord[] = [];
  await bus.subscribe({
    group,
    topics: [topic],
    handler: async (r) => {
      got.push(r);
    },
  });
  return got;
}

/** Each of `partitions` was handed its records once each, in offset order from 0. */
function expectOffsetsInOrder(records: ConsumedRecord[], partitions: number): void {
  for (let partition = 0; partition < partitions; partition++) {
    const offsets = records.filter((r) => r.partition === partition).map((r) => Number(r.offset));
    expect(offsets).toEqual(offsets.map((_, i) => i));
  }
}

/** Reads the bus's file behind its back, as another process would. */
function readFile<T>(file: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

/** Another Node process running `script` (an ES module body), with BUS_MODULE and `env` set. */
function busProcess(script: string, env: Record<string, string>) {
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    env: { ...process.env, BUS_MODULE, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

runBusConformance('SqliteBus conformance', async () => {
  const file = tempFile();
  return {
    bus: new SqliteBus({ file, ...FAST }),
    newBus: async () => new SqliteBus({ file, ...FAST }),
    cleanup: async () => rmSync(path.dirname(file), { recursive: true, force: true }),
  };
});

describe('SqliteBus', () => {
  it('keeps records and committed offsets across reopening the file', async () => {
    const file = tempFile();
    const first = new SqliteBus({ file });
    await first.ensureTopics([{ name: 'durable', partitions: 2 }]);
    const sent = Array.from({ length: 50 }, (_, i) => record('durable', `key-${i % 7}`, `r${i}`));
    await first.publish(sent);
    await first.close();

    const second = new SqliteBus({ file, ...FAST });
    const got = await collect(second, 'g', 'durable');
    await waitFor('50 records', () => got.length >= 50);
    for (const s of sent) {
      const r = got.find((g) => g.headers.id === s.headers.id)!;
      expect(r.key).toBe(s.key);
      expect(r.value.equals(s.value)).toBe(true);
    }
    expectOffsetsInOrder(got, 2);
    await waitFor('commits', async () => (await second.lag('g', 'durable')).every((l) => l.lag === 0));
    await second.close();

    const third = new SqliteBus({ file });
    expect((await third.lag('g', 'durable')).map((l) => l.lag)).toEqual([0, 0]);
    await third.close();
  });

  it("gives a SIGKILLed member's uncommitted records, and only those, to the surviving member", async () => {
    const file = tempFile();
    const topic = 'crash';
    const group = 'g';
    const partitions = 4;
    const bus = new SqliteBus({ file, ...FAST });
    try {
      await bus.ensureTopics([{ name: topic, partitions }]);
      const ids = Array.from({ length: 400 }, (_, i) => `r${i}`);
      await bus.publish(ids.map((id) => record(topic, `key-${id}`, id)));

      const child = busProcess(
        `
        const { SqliteBus } = await import(process.env.BUS_MODULE);
        const bus = new SqliteBus({ file: process.env.BUS_FILE, leaseTtlMs: 1000, heartbeatMs: 100 });
        const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
        await bus.subscribe({
          group: process.env.BUS_GROUP,
          topics: [process.env.BUS_TOPIC],
          handler: async (r) => {
            say({ ev: 'start', id: r.headers.id });
            await new Promise((resolve) => setTimeout(resolve, 30));
            say({ ev: 'done', id: r.headers.id });
          },
        });
        `,
        { BUS_FILE: file, BUS_GROUP: group, BUS_TOPIC: topic },
      );
      const exited = new Promise((resolve) => child.once('exit', resolve));
      let stderr = '';
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
      });
      const started = new Set<string>();
      const finished = new Set<string>();
      createInterface({ input: child.stdout }).on('line', (line) => {
        const event = JSON.parse(line) as { ev: string; id: string };
        (event.ev === 'start' ? started : finished).add(event.id);
      });

      try {
        await waitFor(`the child to handle 20 records (stderr: ${stderr})`, () => finished.size >= 20);
      } finally {
        child.kill('SIGKILL');
        await exited;
      }
      expect(finished.size).toBeLessThan(ids.length);

      const committedRows = readFile<{ partition: number; next_offset: number }>(
        file,
        'SELECT partition, next_offset FROM group_offsets WHERE grp = ? AND topic = ?',
        group,
        topic,
      );
      const committed = new Map(committedRows.map((r) => [r.partition, r.next_offset]));

      const survivor = await collect(bus, group, topic);
      const handled = () => new Set([...finished, ...survivor.map((r) => r.headers.id!)]);
      await waitFor('every record to be handled', () => ids.every((id) => handled().has(id)));
      await waitFor('the group to commit everything', async () =>
        (await bus.lag(group, topic)).every((l) => l.lag === 0),
      );

      const inFlight = [...started].filter((id) => !finished.has(id));
      const bySurvivor = new Set(survivor.map((r) => r.headers.id!));
      for (const id of inFlight) expect(bySurvivor.has(id), `${id} was in flight at the crash`).toBe(true);
      const counts = new Map<number, number>();
      for (const id of ids) {
        const p = partitionFor(`key-${id}`, partitions);
        counts.set(p, (counts.get(p) ?? 0) + 1);
      }
      for (let p = 0; p < partitions; p++) {
        // Exactly the uncommitted tail of each partition, once each, in order.
        const from = committed.get(p) ?? 0;
        const offsets = survivor.filter((r) => r.partition === p).map((r) => Number(r.offset));
        expect(offsets).toEqual(Array.from({ length: counts.get(p)! - from }, (_, i) => from + i));
      }
    } finally {
      await bus.close();
    }
  });

  it('group-commits concurrent publishes into far fewer transactions', async () => {
    const bus = new SqliteBus({ file: tempFile() });
    try {
      const before = bus.stats();
      await Promise.all(
        Array.from({ length: 1000 }, (_, i) => bus.publish([record('gc', `key-${i}`, `r${i}`)])),
      );
      const after = bus.stats();
      expect(after.publishedRecords - before.publishedRecords).toBe(1000);
      expect(after.publishTransactions - before.publishTransactions).toBeLessThanOrEqual(10);
      expect((await bus.lag('nobody', 'gc')).reduce((sum, l) => sum + l.lag, 0)).toBe(1000);
    } finally {
      await bus.close();
    }
  });

  it('numbers a partition on from what another bus on the file appended since its own last publish', async () => {
    const file = tempFile();
    const a = new SqliteBus({ file });
    const b = new SqliteBus({ file });
    try {
      await a.ensureTopics([{ name: 'shared', partitions: 1 }]);
      await a.publish([record('shared', 'k', 'a1')]);
      await b.publish([record('shared', 'k', 'b1'), record('shared', 'k', 'b2')]);
      await a.publish([record('shared', 'k', 'a2')]);
      const rows = readFile(
        file,
        "SELECT offset, headers FROM records WHERE topic = 'shared' ORDER BY rowid",
      );
      expect(rows).toEqual([
        { offset: 0, headers: '{"id":"a1"}' },
        { offset: 1, headers: '{"id":"b1"}' },
        { offset: 2, headers: '{"id":"b2"}' },
        { offset: 3, headers: '{"id":"a2"}' },
      ]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('does not count the records of a rolled-back publish transaction as written', async () => {
    const file = tempFile();
    const bus = new SqliteBus({ file });
    const saboteur = new Database(file);
    try {
      await bus.ensureTopics([{ name: 'rollback', partitions: 1 }]);
      await bus.publish([record('rollback', 'k', 'first')]);
      saboteur.exec(`CREATE TRIGGER refuse BEFORE INSERT ON records WHEN NEW.key = 'refused'
        BEGIN SELECT RAISE(ABORT, 'refused'); END`);
      // Same event-loop turn: one transaction, which the second record aborts.
      const outcomes = await Promise.allSettled([
        bus.publish([record('rollback', 'k', 'lost')]),
        bus.publish([record('rollback', 'refused', 'refused')]),
      ]);
      expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
      saboteur.exec('DROP TRIGGER refuse');
      await bus.publish([record('rollback', 'k', 'second')]);
      const offsets = saboteur
        .prepare("SELECT offset FROM records WHERE topic = 'rollback' ORDER BY offset")
        .pluck()
        .all();
      expect(offsets).toEqual([0, 1]);
    } finally {
      saboteur.close();
      await bus.close();
    }
  });

  it('creates unknown topics with defaultPartitions and partitions keys like Kafka', async () => {
    const bus = new SqliteBus({ file: tempFile(), defaultPartitions: 3 });
    try {
      await bus.publish([record('auto', 'k', 'r0')]);
      expect((await bus.lag('g', 'auto')).length).toBe(3);

      const partitioner = kafkajs.Partitioners.DefaultPartitioner();
      for (const n of [1, 3, 4, 12]) {
        const partitionMetadata = Array.from({ length: n }, (_, partitionId) => ({
          partitionId,
          leader: 0,
          partitionErrorCode: 0,
          replicas: [0],
          isr: [0],
        }));
        for (let i = 0; i < 200; i++) {
          const key = `ags:${14612000 + i}/Fall-${'äö€'.slice(0, i % 4)}`;
          expect(partitionFor(key, n)).toBe(
            partitioner({ topic: 't', partitionMetadata, message: { key, value: null } }),
          );
        }
      }
    } finally {
      await bus.close();
    }
  });

  it('wakes idle partitions within a poll interval when another process publishes, without each partition polling', async () => {
    const file = tempFile();
    const topic = 'foreign';
    // Idle partitions look on their own only after a minute here: a handover within a second is the
    // store-level poll noticing the other process's records.
    const bus = new SqliteBus({ file, ...FAST, pollIntervalMs: 100, idleFallbackMs: 60_000 });
    try {
      await bus.ensureTopics([{ name: topic, partitions: 8 }]);
      const handledAt = new Map<string, number>();
      await bus.subscribe({
        group: 'g',
        topics: [topic],
        handler: async (r) => {
          handledAt.set(r.headers.id!, Date.now());
        },
      });
      await sleep(300); // every partition found nothing and went idle
      const child = busProcess(
        `
        const { SqliteBus } = await import(process.env.BUS_MODULE);
        const bus = new SqliteBus({ file: process.env.BUS_FILE });
        await bus.publish([0, 1, 2, 3].map((i) => ({ topic: process.env.BUS_TOPIC, key: 'k' + i, value: Buffer.from('v'), headers: { id: 'r' + i } })));
        process.stdout.write(Date.now() + '\\n');
        await bus.close();
        `,
        { BUS_FILE: file, BUS_TOPIC: topic },
      );
      let out = '';
      child.stdout.on('data', (chunk) => {
        out += chunk;
      });
      await new Promise((resolve) => child.once('exit', resolve));
      const publishedAt = Number(out.trim());
      expect(publishedAt).toBeGreaterThan(0);
      await waitFor('the four records', () => handledAt.size === 4, 10_000);
      for (const at of handledAt.values()) expect(at - publishedAt).toBeLessThan(1000);
    } finally {
      await bus.close();
    }
  });

  it('hands records published in this process to its consumers without reading them back', async () => {
    const file = tempFile();
    const topic = 'local';
    const bus = new SqliteBus({ file, ...FAST });
    const fetches = countRecordFetches();
    try {
      await bus.ensureTopics([{ name: topic, partitions: 4 }]);
      const got = await collect(bus, 'g', topic);
      await waitFor('every partition idle', () => fetches.count >= 4);
      const before = fetches.count;
      // One at a time, like callers that each await their own publish: each record its own commit.
      for (let i = 0; i < 100; i++) await bus.publish([record(topic, `key-${i}`, `r${i}`)]);
      await waitFor('100 records', () => got.length === 100);
      // Before: a fetch per record here (100), and in the gateway often an empty one after it too.
      expect(fetches.count - before).toBeLessThan(10);
      expect(got.map((r) => r.headers.id)).toEqual(Array.from({ length: 100 }, (_, i) => `r${i}`));
      for (const r of got) {
        expect(r.value.toString()).toBe(`value of ${r.headers.id}`);
        expect(r.partition).toBe(partitionFor(r.key, 4));
      }
      expectOffsetsInOrder(got, 4);
    } finally {
      fetches.restore();
      await bus.close();
    }
  });

  it('does not let a record from memory overtake one another process wrote to its partition first', async () => {
    const file = tempFile();
    const topic = 'mixed';
    const bus = new SqliteBus({ file, ...FAST, pollIntervalMs: 60_000 }); // no poll: only the publish reveals it
    const other = new Database(file);
    try {
      await bus.ensureTopics([{ name: topic, partitions: 1 }]);
      const got: string[] = [];
      await bus.subscribe({
        group: 'g',
        topics: [topic],
        handler: async (r) => {
          got.push(`${r.offset}:${r.headers.id}`);
        },
      });
      await bus.publish([record(topic, 'k', 'mine-1')]);
      await waitFor('the first record', () => got.length === 1);
      // "Another process" appends offset 1 behind this bus's back; its next publish gets offset 2.
      other
        .prepare(
          'INSERT INTO records (topic, partition, offset, key, value, headers, timestamp) VALUES (?, 0, 1, ?, ?, ?, ?)',
        )
        .run(topic, 'k', Buffer.from('v'), JSON.stringify({ id: 'theirs' }), Date.now());
      await bus.publish([record(topic, 'k', 'mine-2')]);
      await waitFor('three records', () => got.length === 3);
      expect(got).toEqual(['0:mine-1', '1:theirs', '2:mine-2']);
    } finally {
      other.close();
      await bus.close();
    }
  });

  it('hands every record once and in offset order when two buses on the file publish to the same partitions', async () => {
    const file = tempFile();
    const topic = 'shared';
    // Two stores in this process: their commits and syncs interleave, so a consumer is handed some
    // records from memory, must refuse others (the other bus's offsets came between) and fetch them.
    const buses = [new SqliteBus({ file, ...FAST }), new SqliteBus({ file, ...FAST })];
    try {
      await buses[0]!.ensureTopics([{ name: topic, partitions: 3 }]);
      const got = new Map<string, ConsumedRecord[]>();
      for (const [i, group] of ['g0', 'g1'].entries()) {
        got.set(group, []);
        await buses[i]!.subscribe({
          group,
          topics: [topic],
          handler: async (r) => {
            got.get(group)!.push(r);
            if (Number(r.offset) % 7 === 0) await sleep(1); // sometimes busy when records come
          },
        });
      }
      const total = 400;
      const publishes: Array<Promise<void>> = [];
      for (let i = 0; i < total; ) {
        const size = 1 + (i % 3);
        const batch = Array.from({ length: Math.min(size, total - i) }, (_, n) =>
          record(topic, `key-${(i + n) % 5}`, `r${i + n}`),
        );
        publishes.push(buses[i % 2]!.publish(batch));
        i += batch.length;
        if (i % 20 === 0) await sleep(1);
      }
      await Promise.all(publishes);
      await waitFor('both groups', () => [...got.values()].every((g) => g.length >= total));
      await sleep(100); // nothing more (no duplicates) arrives
      const stored = readFile<{ partition: number; offset: number; headers: string }>(
        file,
        'SELECT partition, offset, headers FROM records WHERE topic = ? ORDER BY partition, offset',
        topic,
      );
      const expected = stored.map((r) => `${r.partition}/${r.offset}/${JSON.parse(r.headers).id}`);
      for (const records of got.values()) {
        expect(records).toHaveLength(total);
        const handed = [...records]
          .sort((a, b) => a.partition - b.partition)
          .map((r) => `${r.partition}/${r.offset}/${r.headers.id}`);
        expect(handed).toEqual(expected); // per partition: every offset once, in order
      }
    } finally {
      for (const bus of buses) await bus.close();
    }
  });

  it("gives each consumer its own copy of a record's value", async () => {
    const file = tempFile();
    const topic = 'copies';
    const bus = new SqliteBus({ file, ...FAST });
    try {
      await bus.ensureTopics([{ name: topic, partitions: 1 }]);
      const values = new Map<string, Buffer>();
      for (const group of ['scribbler', 'reader']) {
        await bus.subscribe({
          group,
          topics: [topic],
          handler: async (r) => {
            // A handler writing into its record must not change what the other group gets.
            if (group === 'scribbler') r.value.fill(0);
            else await sleep(50);
            values.set(group, r.value);
          },
        });
      }
      const published = Buffer.from('original');
      await bus.publish([{ topic, key: 'k', value: published, headers: {} }]);
      published.write('changed!'); // nor a publisher reusing its buffer once the publish resolved
      await waitFor('both groups', () => values.size === 2);
      expect(values.get('scribbler')!.equals(Buffer.alloc(8))).toBe(true);
      expect(values.get('reader')!.toString()).toBe('original');
    } finally {
      await bus.close();
    }
  });

  it('refuses work after close', async () => {
    const bus = new SqliteBus({ file: tempFile() });
    await bus.close();
    await expect(bus.publish([record('t', 'k', 'r')])).rejects.toMatchObject({
      code: 'GW_ERR_BUS_UNAVAILABLE',
    });
    expect((await bus.health()).ok).toBe(false);
    await bus.close();
  });
});
