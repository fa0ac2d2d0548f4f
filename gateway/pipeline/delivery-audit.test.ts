/**
 * The chains of the delivery stage's events, on a real SQLite audit store: a deliver-topic record's
 * go to `delivery.<system>.<partition>`, a retry-topic record's of the same partition number to
 * `delivery.<system>.<partition>.retry` — two consumer groups, two chains, one writer each — and
 * both count as partition chains (callbacks/chain-takeovers.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AuditLog } from '../audit/audit-log.ts';
import { SqliteAuditStore } from '../audit/sqlite-audit-store.ts';
import { deliverTopic, isRetryTopic, retryTopic } from '../bus/topics.ts';
import type { ConsumedRecord } from '../ports/bus.ts';
import {
  AUDIT_SLOT,
  auditKey,
  DeliveryAuditChains,
  deliveryChain,
  isPartitionChain,
  retryChain,
} from './delivery-audit.ts';

// Counted: the chain name is built, and the topic told apart, only the first time a topic-partition is met.
vi.mock('../bus/topics.ts', async (importOriginal) => {
  const topics = await importOriginal<typeof import('../bus/topics.ts')>();
  return { ...topics, isRetryTopic: vi.fn(topics.isRetryTopic) };
});

const record = (topic: string, partition: number, offset: string): ConsumedRecord => ({
  topic,
  key: 'case-1',
  value: Buffer.from('<signed/>'),
  headers: {},
  partition,
  offset,
  timestamp: Date.now(),
});

describe('delivery audit chains', () => {
  let dir: string;
  let store: SqliteAuditStore;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'gw-delivery-audit-'));
    store = new SqliteAuditStore({
      file: path.join(dir, 'audit.sqlite'),
      sync: 'NORMAL',
      projectionDelayMs: 1e9,
    });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("puts a retry-topic record's events on the retry partition's own chain, a deliver-topic record's on the deliver one's", async () => {
    const chains = new DeliveryAuditChains(new AuditLog(store, { chain: 'main' }));
    // A system id with a dot and a prefix that ends like a topic name must not confuse the two.
    const system = 'st-melde.retry';
    const prefix = 'gw.retry';
    const fromDeliver = record(deliverTopic(prefix, system), 3, '7');
    const fromRetry = record(retryTopic(prefix, system), 3, '7');
    const event = (r: ConsumedRecord) => ({
      kind: 'delivery-attempted' as const,
      actor: 'gateway',
      messageId: 'm-1',
      receiverSystem: system,
      idempotencyKey: auditKey(r, AUDIT_SLOT.attemptFailed),
    });
    const delivered = await chains.of(system, fromDeliver).record(event(fromDeliver));
    const retried = await chains.of(system, fromRetry).record(event(fromRetry));

    expect(delivered.chain).toBe('delivery.st-melde.retry.3');
    expect(delivered.chain).toBe(deliveryChain(system, 3));
    expect(retried.chain).toBe('delivery.st-melde.retry.3.retry');
    expect(retried.chain).toBe(retryChain(system, 3));
    // Each chain has only its own topic's entries: both start at seq 1.
    expect([delivered.seq, retried.seq]).toEqual([1, 1]);
    expect(isPartitionChain(delivered.chain) && isPartitionChain(retried.chain)).toBe(true);
    expect(isPartitionChain('main')).toBe(false);
  });
});

describe('delivery audit chains, found again by topic and partition', () => {
  /** An AuditLog that only says which chain it was made for. */
  const audit = () =>
    ({ withChain: vi.fn((chain: string) => ({ chain })) }) as unknown as AuditLog & {
      withChain: ReturnType<typeof vi.fn>;
    };
  const chainOf = (log: AuditLog) => (log as unknown as { chain: string }).chain;
  // Two systems whose ids share a prefix, and one whose id ends like a retry topic's name.
  const systems = ['st-melde', 'st-melde-test', 'st-melde.retry'];
  const partitions = Array.from({ length: 40 }, (_, p) => p);

  it('gives every deliver and retry topic-partition the name it had, and the same log on every later event', () => {
    const root = audit();
    const chains = new DeliveryAuditChains(root);
    const first = new Map<string, AuditLog>();
    for (let round = 0; round < 3; round++) {
      // Interleaved as several workers would be: every system, both topics, partition by partition.
      for (const partition of round === 1 ? [...partitions].reverse() : partitions) {
        for (const system of systems) {
          const deliver = chains.of(system, record(deliverTopic('gw', system), partition, String(round)));
          const retry = chains.of(system, record(retryTopic('gw', system), partition, String(round)));
          expect(chainOf(deliver)).toBe(`delivery.${system}.${partition}`);
          expect(chainOf(deliver)).toBe(deliveryChain(system, partition));
          expect(chainOf(retry)).toBe(`delivery.${system}.${partition}.retry`);
          expect(chainOf(retry)).toBe(retryChain(system, partition));
          for (const log of [deliver, retry]) {
            if (round === 0) first.set(chainOf(log), log);
            else expect(log).toBe(first.get(chainOf(log)));
          }
        }
      }
    }
    // One log per chain; no two topic-partitions share one.
    expect(first.size).toBe(systems.length * partitions.length * 2);
    expect(root.withChain).toHaveBeenCalledTimes(first.size);
  });

  it('builds no chain name for a topic-partition it has met', () => {
    const chains = new DeliveryAuditChains(audit());
    const topic = retryTopic('gw', 'st-melde');
    chains.of('st-melde', record(topic, 5, '1'));
    vi.mocked(isRetryTopic).mockClear();
    for (let offset = 2; offset < 100; offset++) chains.of('st-melde', record(topic, 5, String(offset)));
    expect(isRetryTopic).not.toHaveBeenCalled();
    // A partition not met yet is told apart once.
    expect(chainOf(chains.of('st-melde', record(topic, 6, '1')))).toBe('delivery.st-melde.6.retry');
    expect(isRetryTopic).toHaveBeenCalledTimes(1);
  });
});
