/**
 * The Bus port: a durable, partitioned, ordered log with consumer groups.
 *
 * Semantics every implementation must honour (proved by test/conformance/bus.conformance.ts):
 * - `publish` resolves only when every record is durable (fsync'd locally, or acknowledged by all
 *   in-sync Kafka replicas). A rejected promise means "maybe not published": the caller must not
 *   acknowledge the message to its sender, and must be ready for the records to land all the same
 *   (publishSettled says until when).
 * - Records with the same key land in the same partition and are consumed in publish order.
 * - Each consumer group sees every record at least once. Records of one partition are handed to the
 *   handler one at a time; the offset is committed only after the handler resolved. If the handler
 *   throws, the record is handed again later (after `redeliveryDelayMs`), and nothing behind it in
 *   that partition overtakes it.
 * - Several subscribers in the same group share the partitions; a subscriber that goes away
 *   (close or crash) leaves its uncommitted records to the others.
 * - A group's offsets can also be committed without consuming (commitOffsets): a bookmark that the
 *   group's next subscriber starts from.
 */
export interface BusRecord {
  topic: string;
  /** Partitioning and ordering key: records of one case share a key. */
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

export interface ConsumedRecord extends BusRecord {
  partition: number;
  /** Decimal string: Kafka offsets are 64-bit. */
  offset: string;
  /** Publish time in ms since the epoch. */
  timestamp: number;
}

/**
 * What a rejected publish carries when the bus was still sending its records as it gave up waiting
 * (a Kafka send that outlived the publish timeout): `settled` resolves once the bus has stopped —
 * the records acknowledged late, or given up on with their connections reset — after which nothing
 * more of that publish can land.
 */
export interface UnsettledPublish {
  readonly settled: Promise<void>;
}

/** When nothing more of a rejected publish can land: at once, unless the error says otherwise. */
export function publishSettled(error: unknown): Promise<void> {
  const settled = (error as Partial<UnsettledPublish> | null | undefined)?.settled;
  return settled instanceof Promise ? settled : Promise.resolve();
}

export type RecordHandler = (record: ConsumedRecord) => Promise<void>;

export interface SubscribeOptions {
  group: string;
  topics: string[];
  handler: RecordHandler;
  /** Delay before a record whose handler threw is handed out again. Default 1000 ms. */
  redeliveryDelayMs?: number;
}

export interface Subscription {
  /** Stops fetching, waits for in-flight handlers to finish, commits, leaves the group. */
  close(): Promise<void>;
}

export interface TopicSpec {
  name: string;
  partitions: number;
}

export interface BusHealth {
  ok: boolean;
  detail: string;
}

export interface GroupLag {
  topic: string;
  partition: number;
  /** Records published but not yet committed by the group. */
  lag: number;
}

export interface PartitionOffsets {
  partition: number;
  /** The offset the next record published to the partition gets (decimal string). */
  end: string;
  /** Where the group goes on (its next record, decimal string); null if it never committed here. */
  committed: string | null;
}

export interface Bus {
  readonly kind: string;
  /** Creates missing topics; existing topics are left as they are. Idempotent. */
  ensureTopics(topics: TopicSpec[]): Promise<void>;
  publish(records: BusRecord[]): Promise<void>;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  lag(group: string, topic: string): Promise<GroupLag[]>;
  /** Every partition of `topic`, ascending: its end and `group`'s commit; [] if the topic does not exist. */
  offsets(group: string, topic: string): Promise<PartitionOffsets[]>;
  /**
   * Commits `group`'s offsets on `topic` as given, without consuming: its next subscriber starts
   * there. Only for a group that has no live subscriber (Kafka refuses an active group's). Callers
   * move offsets forward only (the SQLite bus ignores a move back, as for consumed commits).
   */
  commitOffsets(
    group: string,
    topic: string,
    offsets: { partition: number; offset: string }[],
  ): Promise<void>;
  health(): Promise<BusHealth>;
  /** Closes all subscriptions (as Subscription.close) and releases resources. */
  close(): Promise<void>;
}
