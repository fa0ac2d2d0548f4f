/**
 * The delivery stage's audit events are idempotent per bus record (issue 7: "the bus is the commit
 * point; replaying a partition writes nothing twice"). Every event goes to the chain of the record's
 * partition, `delivery.<system>.<partition>` (deliver and retry topic of a system share it), with the
 * idempotency key `<topic>/<partition>/<offset>/<n>`: a redelivered or replayed record meets its own
 * keys and writes nothing again. One chain per partition also spreads the appends of many workers
 * over many chains; the checkpointer signs the heads of all chains (AuditStore.createCheckpoint).
 *
 * A partition's chain is written by whoever holds the partition, and the deliver and retry topic of
 * one partition number are held by two consumer groups each on its own: the writers of such a chain
 * change with every rebalance, and two live processes may write it at once. The callbacks treat
 * every turn of writers on it as a takeover (callbacks/chain-takeovers.ts, isPartitionChain).
 */
import type { AuditLog } from '../audit/audit-log.ts';
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

/** Whether `chain` is a partition's chain (deliveryChain), whose writers change with a rebalance. */
export function isPartitionChain(chain: string): boolean {
  return chain.startsWith(PARTITION_CHAIN_PREFIX);
}

export function auditKey(record: ConsumedRecord, slot: AuditSlot): string {
  return `${record.topic}/${record.partition}/${record.offset}/${slot}`;
}

/** The AuditLog of each partition's chain, made once. */
export class DeliveryAuditChains {
  private readonly chains = new Map<string, AuditLog>();

  constructor(private readonly audit: AuditLog) {}

  of(systemId: string, record: ConsumedRecord): AuditLog {
    const chain = deliveryChain(systemId, record.partition);
    let log = this.chains.get(chain);
    if (!log) {
      log = this.audit.withChain(chain);
      this.chains.set(chain, log);
    }
    return log;
  }
}
