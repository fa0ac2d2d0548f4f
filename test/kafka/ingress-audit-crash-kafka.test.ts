/**
 * The ingress-audit crash scenario (test/support/ingress-audit-crash-scenario.ts) in Kafka mode
 * (GATEWAY_BUS=kafka, the SQLite audit store): the record is seen on the deliver topic by kcat, an
 * independent client, before the process is killed, and the bookmark (the group's committed
 * offsets, moved without membership: bus/kafka-group-offsets.ts) is read by an admin client.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import kafkajs from 'kafkajs';
import { HEADER } from '../../gateway/bus/topics.ts';
import { ingressAuditCrashScenario } from '../support/ingress-audit-crash-scenario.ts';
import { brokers, deleteByPrefix, uniquePrefix } from './support/kafka-run.ts';
import { removeScratchDirs, scratchDir } from './support/scratch.ts';

const execFileAsync = promisify(execFile);

const prefix = uniquePrefix('iacrash');
/** sn-melde's 0201 goes to st-melde. */
const deliverTopic = `${prefix}.deliver.st-melde`;

/** The records on `topic` that carry message `messageId`, counted by kcat. */
async function recordsOf(topic: string, messageId: string): Promise<number> {
  const { stdout } = await execFileAsync(
    'kcat',
    ['-b', brokers(), '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%h\n'],
    { timeout: 30_000 },
  );
  return stdout.split('\n').filter((headers) => headers.includes(`${HEADER.messageId}=${messageId}`)).length;
}

/** The deliver topics, and those of their partitions where the ingress-audit bookmark is not at the end. */
async function bookmark(): Promise<{ topics: string[]; behind: string[] }> {
  const admin = new kafkajs.Kafka({
    clientId: `${prefix}-check`,
    brokers: brokers().split(','),
    logLevel: kafkajs.logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.deliver.`));
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
    return { topics, behind };
  } finally {
    await admin.disconnect();
  }
}

ingressAuditCrashScenario({
  title: 'Kafka mode: a gateway killed between the publish and the audit append (SQLite audit)',
  dataDir: scratchDir('ingress-audit-crash-kafka'),
  deliverTopic,
  env: () => ({ GATEWAY_BUS: 'kafka', KAFKA_BROKERS: brokers(), KAFKA_TOPIC_PREFIX: prefix }),
  published: (messageId) => recordsOf(deliverTopic, messageId),
  bookmark,
  // Without the recovery's ensureTopics ahead of the consumers, a first start's publish has been
  // seen to take 20 s (the topics made by twenty joining consumers at once).
  publishWaitMs: 30_000,
  deliveryWaitMs: 30_000,
  testTimeoutMs: 240_000,
  cleanup: async () => {
    await deleteByPrefix(prefix);
    removeScratchDirs();
  },
});
