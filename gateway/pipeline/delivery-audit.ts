/**
 * The delivery stage's audit events are idempotent per bus record (issue 7: "the bus is the commit
 * point; replaying a partition writes nothing twice"). Every event goes to the chain of the record's
 * topic-partition — `delivery.<system>.<partition>` for the deliver topic,
 * `delivery.<system>.<partition>.retry` for the retry topic — with the idempotency key
 * `<topic>/<partition>/<offset>/<n>`: a redelivered or replayed record meets its own keys and writes
 * nothing again. One chain per partition also spreads the appends of many workers over many
 * chains; the checkpointer signs the heads of all chains (AuditStore.createCheckpoint).
 *
 * One chain per topic-partition, not per partition number: the deliver and retry topics are
 * consumed by two groups assigned each on its own, so a chain both shared would have two live
 * writers taking turns all the time. This way a chain has one writer at a time, the holder of its
 * topic-partition; only a rebalance or a crash changes it (callbacks/chain-takeovers.ts,
 * isPartitionChain). A message's delivery events may so lie on two chains; the status fold orders
 * them across chains anyway (audit/message-summary.ts).
 */
import type { AuditLog } from '../audit/audit-log.ts';
import { isRetryTopic } from '../bus/topics.ts';
import type { ConsumedRecord } from '../ports/bus.ts';

/** `<n>` of the key: which of the events one record can cause. */
export const AUDIT_SLOT = {
  attemptFailed: 0,
  attemptSucceeded: 1,
  delivered: 2,
  acknowledged: 3,
  deadLettered: 4,
} as const;
export type AuditSlot = (typeof AUDIT_SLOT)[keyof typeof AUDIT_SLOT];

const PARTITION_CHAIN_PREFIX = 'delivery.';

export function deliveryChain(systemId: string, partition: number): string {
  return `${PARTITION_CHAIN_PREFIX}${systemId}.${partition}`;
}

/** The chain of a retry topic's partition: beside the deliver topic's, never shared with it. */
export function retryChain(systemId: string, partition: number): string {
  return `${deliveryChain(systemId, partition)}.retry`;
}

/** Whether `chain` is a partition's chain (deliveryChain, retryChain), written by one process at a time. */
export function isPartitionChain(chain: string): boolean {
  return chain.startsWith(PARTITION_CHAIN_PREFIX);
}

export function auditKey(record: ConsumedRecord, slot: AuditSlot): string {
  return `${record.topic}/${record.partition}/${record.offset}/${slot}`;
}

/**
 * The AuditLog of each partition's chain, made once. `of` runs for every delivery event, so a known
 * topic-partition is found by the record's topic and partition alone, with no chain name built.
 */
export class DeliveryAuditChains {
  /** Per system, per topic: the logs by partition. Keyed by system too: the name depends on it. */
  private readonly bySystem = new Map<string, Map<string, AuditLog[]>>();
  /** Still one log per chain name, should two topics ever give the same one. */
  private readonly byChain = new Map<string, AuditLog>();

  constructor(private readonly audit: AuditLog) {}

  of(systemId: string, record: ConsumedRecord): AuditLog {
    return this.bySystem.get(systemId)?.get(record.topic)?.[record.partition] ?? this.made(systemId, record);
  }

  private made(systemId: string, record: ConsumedRecord): AuditLog {
    const chain = isRetryTopic(record.topic, systemId)
      ? retryChain(systemId, record.partition)
      : deliveryChain(systemId, record.partition);
    let log = this.byChain.get(chain);
    if (!log) {
      log = this.audit.withChain(chain);
      this.byChain.set(chain, log);
    }
    let topics = this.bySystem.get(systemId);
    if (!topics) {
      topics = new Map();
      this.bySystem.set(systemId, topics);
    }
    let partitions = topics.get(record.topic);
    if (!partitions) {
      partitions = [];
      topics.set(record.topic, partitions);
    }
    partitions[record.partition] = log;
    return log;
  }
}
