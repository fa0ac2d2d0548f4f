/**
 * The Kafka side of a test file: the broker address the vitest 'kafka' project provides, a topic
 * prefix of its own per run (so runs against a shared broker never see each other's topics or
 * groups), and cleanup of exactly what that prefix created.
 */
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import { inject } from 'vitest';

export function brokers(): string {
  const value = inject('kafkaBrokers') ?? process.env.KAFKA_BROKERS;
  if (!value) throw new Error('no Kafka broker: run this file in the vitest project "kafka"');
  return value;
}

/** A topic prefix nobody else uses: `t<time><random>.<label>`. */
export function uniquePrefix(label: string): string {
  return `t${Date.now().toString(36)}${randomUUID().slice(0, 6)}.${label}`;
}

/** Deletes the topics and consumer groups whose names start with `prefix.`. */
export async function deleteByPrefix(prefix: string, brokerList = brokers()): Promise<void> {
  const admin = new kafkajs.Kafka({
    clientId: `${prefix}-cleanup`,
    brokers: brokerList.split(','),
    logLevel: kafkajs.logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    const mine = (name: string) => name.startsWith(`${prefix}.`);
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter(mine);
    if (groups.length > 0) await admin.deleteGroups(groups).catch(() => {});
    const topics = (await admin.listTopics()).filter(mine);
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 10_000 }).catch(() => {});
  } finally {
    await admin.disconnect();
  }
}
