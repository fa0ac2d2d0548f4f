/**
 * test/e2e/ingress-audit-crash.test.ts in Kafka mode (GATEWAY_BUS=kafka, the SQLite audit store): a
 * gateway process killed (SIGKILL) after it published a message to Kafka and before it appended the
 * message's audit entries. The next start must write them from the record on the deliver topic
 * (pipeline/ingress-audit-recovery.ts): one `accepted` marked recovered, a resend refused (409), one
 * record on the topic. And a clean stop leaves the bookmark (the group's committed offsets, moved
 * without membership: bus/kafka-group-offsets.ts) at the ends of the deliver topics.
 *
 * The window is held open from outside as there: the test holds the write lock of `audit.sqlite`,
 * so the publish goes through and the append waits. The record is seen on the topic by kcat, an
 * independent client, before the process is killed.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import kafkajs from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { HEADER } from '../../gateway/bus/topics.ts';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually, TEST_PASSPHRASE } from '../support/gateway.ts';
import { freePort, type GwServer, startGw } from './support/gw-process.ts';
import { brokers, deleteByPrefix, uniquePrefix } from './support/kafka-run.ts';
import { removeScratchDirs, scratchDir } from './support/scratch.ts';

const execFileAsync = promisify(execFile);

interface Problem {
  code: string;
}

interface TrailRow {
  time: string;
  seq: number;
  kind: string;
  actor: string;
  detail: string;
}

/** The records on `topic` that carry message `messageId`, counted by kcat. */
async function recordsOf(topic: string, messageId: string): Promise<number> {
  const { stdout } = await execFileAsync(
    'kcat',
    ['-b', brokers(), '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%h\n'],
    { timeout: 30_000 },
  );
  return stdout.split('\n').filter((headers) => headers.includes(`${HEADER.messageId}=${messageId}`)).length;
}

describe('Kafka mode: a gateway killed between the publish and the audit append (SQLite audit)', () => {
  const prefix = uniquePrefix('iacrash');
  const dataDir = scratchDir('ingress-audit-crash-kafka');
  /** sn-melde's 0201 goes to st-melde. */
  const deliverTopic = `${prefix}.deliver.st-melde`;
  const servers: GwServer[] = [];
  const clients: SystemClient[] = [];

  /** `gw start` in Kafka mode; logs how long it took to say it is ready (the recovery runs before). */
  async function start(label: string): Promise<SystemClient> {
    // The SQLite audit store, whatever the test run's environment says about PostgreSQL.
    const { DATABASE_URL, DATABASE_SCHEMA, ...inherited } = process.env;
    const began = performance.now();
    const server = await startGw({
      ...inherited,
      GATEWAY_BUS: 'kafka',
      KAFKA_BROKERS: brokers(),
      KAFKA_TOPIC_PREFIX: prefix,
      GATEWAY_DATA_DIR: dataDir,
      GATEWAY_CONTRACTS_DIR: path.join(REPO_ROOT, 'contracts'),
      GATEWAY_PORT: String(await freePort()),
      GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
      GATEWAY_LOG_LEVEL: 'warn',
      // No checkpoint write meets the held lock before the request does.
      GATEWAY_AUDIT_CHECKPOINT_SECONDS: '3600',
    });
    process.stderr.write(
      `ingress-audit-crash-kafka: ${label}: ready after ${Math.round(performance.now() - began)} ms\n`,
    );
    servers.push(server);
    const url = /ready at (\S+)/.exec(server.output())?.[1];
    if (!url) throw new Error(`no URL in the output of gw start:\n${server.output()}`);
    const client = SystemClient.forSystem(url, dataDir, 'sn-melde');
    clients.push(client);
    return client;
  }

  const trailOf = (messageId: string): TrailRow[] => {
    const db = new Database(path.join(dataDir, 'audit.sqlite'), { readonly: true, fileMustExist: true });
    try {
      return db
        .prepare(
          'SELECT time, seq, kind, actor, detail FROM audit_entries WHERE message_id = ? ORDER BY chain, seq',
        )
        .all(messageId) as TrailRow[];
    } finally {
      db.close();
    }
  };

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    for (const server of servers) await server.kill9();
    await deleteByPrefix(prefix);
    removeScratchDirs();
  });

  it('the next start writes its entries from the record on the topic: one `accepted`, a resend refused, one record', async () => {
    const first = await start('first start (fresh chain)');
    const msg = rueckmeldung();

    const lock = new Database(path.join(dataDir, 'audit.sqlite'), { fileMustExist: true });
    let killed = false;
    try {
      lock.exec('BEGIN EXCLUSIVE');
      // Not awaited: the answer never comes (the process is killed while appending).
      const answer = first.send('sn-melde', msg.body, 'application/json').catch((error: unknown) => error);
      await eventually(
        async () => ((await recordsOf(deliverTopic, msg.id)) === 1 ? true : undefined),
        // Without the recovery's ensureTopics ahead of the consumers, a first start's publish has
        // been seen to take 20 s (the topics made by twenty joining consumers at once).
        30_000,
        'the publish',
      );
      await servers[0]!.kill9();
      killed = true;
      const r = await answer;
      expect((r as { status?: number }).status, 'no answer from a killed process').toBeUndefined();
    } finally {
      if (lock.inTransaction) lock.exec('ROLLBACK');
      lock.close();
    }
    expect(killed).toBe(true);
    // The window was hit: published, not audited.
    expect(await recordsOf(deliverTopic, msg.id)).toBe(1);
    expect(trailOf(msg.id).map((e) => e.kind)).not.toContain('accepted');

    const second = await start('start with a record past the bookmark');
    // Written before the restarted gateway said it was ready.
    // The delivery stage appends to a chain of its own (and may have delivered it by now): the ingress's entries.
    const recovered = trailOf(msg.id).filter((e) => e.kind !== 'delivered');
    expect(recovered.map((e) => e.kind)).toEqual(['received', 'accepted', 'signed', 'queued']);
    for (const e of recovered) expect(JSON.parse(e.detail).recoveredFrom).toBe('bus');
    expect(JSON.parse(recovered[1]!.detail).busPosition).toMatch(new RegExp(`^${deliverTopic}/\\d+/0$`));
    expect(recovered.find((e) => e.kind === 'accepted')!.actor).toBe('system:sn-melde');

    const resend = await second.send('sn-melde', msg.body, 'application/json');
    expect(resend.status, JSON.stringify(resend.body)).toBe(409);
    expect((resend.body as Problem).code).toBe('GW_ERR_DUPLICATE_MESSAGE');
    expect(await recordsOf(deliverTopic, msg.id)).toBe(1);

    // Delivered after the restart, audited after its `accepted`.
    await eventually(
      async () => (trailOf(msg.id).some((e) => e.kind === 'delivered') ? true : undefined),
      30_000,
      'the delivery',
    );
    const trail = trailOf(msg.id);
    expect(trail.filter((e) => e.kind === 'accepted')).toHaveLength(1);
    const timeOf = (kind: string) => trail.find((e) => e.kind === kind)!.time;
    expect(timeOf('accepted') <= timeOf('delivered'), JSON.stringify(trail)).toBe(true);
    expect(await servers.at(-1)!.stop()).toBe(0);
  }, 240_000);

  it('a clean stop leaves the bookmark at the ends of the deliver topics: the next start reads nothing', async () => {
    const client = await start('start after a clean stop');
    const msg = rueckmeldung();
    const r = await client.send('sn-melde', msg.body, 'application/json');
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(await servers.at(-1)!.stop()).toBe(0);

    const admin = new kafkajs.Kafka({
      clientId: `${prefix}-check`,
      brokers: brokers().split(','),
      logLevel: kafkajs.logLevel.NOTHING,
    }).admin();
    await admin.connect();
    try {
      const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.deliver.`));
      expect(topics).toContain(deliverTopic);
      const committed = await admin.fetchOffsets({ groupId: `${prefix}.ingress-audit.main`, topics });
      const behind: string[] = [];
      for (const topic of topics) {
        const ends = await admin.fetchTopicOffsets(topic);
        const marks = committed.find((c) => c.topic === topic)?.partitions ?? [];
        for (const end of ends) {
          const mark = marks.find((m) => m.partition === end.partition)?.offset;
          if (mark !== end.high) behind.push(`${topic}/${end.partition}: end ${end.high}, bookmark ${mark}`);
        }
      }
      expect(behind).toEqual([]);
    } finally {
      await admin.disconnect();
    }
    await start('start after a clean stop (2)');
    expect(trailOf(msg.id).filter((e) => e.kind === 'accepted')).toHaveLength(1);
  }, 240_000);
});
