/**
 * The chains of the delivery stage's events, on a real SQLite audit store: a deliver-topic record's
 * go to `delivery.<system>.<partition>`, a retry-topic record's of the same partition number to
 * `delivery.<system>.<partition>.retry` — two consumer groups, two chains, one writer each — and
 * both count as partition chains (callbacks/chain-takeovers.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../audit/audit-log.ts';
import { SqliteAuditStore } from '../audit/sqlite-audit-store.ts';
import { deliverTopic, retryTopic } from '../bus/topics.ts';
import type { ConsumedRecord } from '../ports/bus.ts';
import {
  AUDIT_SLOT,
  auditKey,
  DeliveryAuditChains,
  deliveryChain,
  isPartitionChain,
  retryChain,
} from './delivery-audit.ts';

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
