/**
 * Commits a consumer group's offsets without joining the group: one OffsetCommit request to the
 * group's coordinator with generation id -1 and an empty member id, which Kafka accepts for a group
 * without members (what Java's AdminClient.alterConsumerGroupOffsets sends). KafkaBus.commitOffsets
 * uses it for bookmarks (ingress-audit-recovery.ts): kafkajs' admin.setOffsets would join the group
 * with a consumer, seek and leave, seconds per call.
 *
 * kafkajs 2.2.4 has no public API for this, but its cluster layer has what it takes (coordinator
 * lookup, Broker.offsetCommit): loaded from kafkajs/src with createRequire and typed by the small
 * interfaces below. The version is pinned (package.json) and the project is in maintenance mode, so
 * these internals do not move under us; a kafkajs upgrade must run test/kafka/kafka-group-offsets.test.ts.
 */
import { createRequire } from 'node:module';
import type { KafkaConfig } from 'kafkajs';
import { GatewayError } from '../errors/catalogue.ts';

export interface GroupOffset {
  partition: number;
  offset: string;
}

/** kafkajs' Broker (src/broker/index.js), the one call used here. */
export interface KafkajsCoordinator {
  offsetCommit(request: {
    groupId: string;
    groupGenerationId: number;
    memberId: string;
    topics: { topic: string; partitions: GroupOffset[] }[];
  }): Promise<unknown>;
}

/** kafkajs' Cluster (src/cluster/index.js), the calls used here. */
export interface KafkajsCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  refreshMetadata(): Promise<void>;
  findGroupCoordinator(request: { groupId: string }): Promise<KafkajsCoordinator>;
}

export interface CommitRetry {
  /** Requests in all, the first included. */
  attempts: number;
  /**
   * No attempt begins after this long: kafkajs' coordinator lookup retries on its own (the client's
   * retry settings), so a broker that is away could otherwise hold a commit for minutes.
   */
  deadlineMs: number;
  /** Wait before the second attempt; doubled each time up to maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
}

/** About 9 s of coordinator moves or a coordinator broker restarting (a new election takes seconds). */
const DEFAULT_RETRY: CommitRetry = { attempts: 8, deadlineMs: 15_000, backoffMs: 100, maxBackoffMs: 2000 };

/**
 * The coordinator moved or is not there yet: find it again. kafkajs' names: NOT_COORDINATOR_FOR_GROUP,
 * GROUP_LOAD_IN_PROGRESS, GROUP_COORDINATOR_NOT_AVAILABLE (Kafka's NOT_COORDINATOR,
 * COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE).
 */
const COORDINATOR_MOVED = new Set([14, 15, 16]);
/**
 * The group has members (or had them a moment ago), which take commits only from themselves:
 * ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS, FENCED_INSTANCE_ID,
 * FENCED_MEMBER_EPOCH, STALE_MEMBER_EPOCH (the last two from groups of the new consumer protocol).
 */
const GROUP_HAS_MEMBERS = new Set([22, 25, 27, 82, 110, 113]);
/** The coordinator's broker went away under the request (restart, failover). */
const CONNECTION_LOST = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSGroupCoordinatorNotFound',
]);

/**
 * One memberless commit of `offsets` (the next record to read per partition) of `group` on `topic`,
 * found at the group's coordinator. Exported for tests, which drive it with a cluster of their own.
 */
export async function commitWithoutMembership(
  cluster: KafkajsCluster,
  group: string,
  topic: string,
  offsets: GroupOffset[],
  retry: CommitRetry = DEFAULT_RETRY,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<void> {
  const where = `group ${group}, topic ${topic}, partitions ${offsets.map((o) => o.partition).join(',')}`;
  let backoffMs = retry.backoffMs;
  const deadline = Date.now() + retry.deadlineMs;
  for (let attempt = 1; ; attempt++) {
    try {
      const coordinator = await cluster.findGroupCoordinator({ groupId: group });
      // kafkajs' response parser throws the first partition's error code as a KafkaJSProtocolError.
      await coordinator.offsetCommit({
        groupId: group,
        groupGenerationId: -1,
        memberId: '',
        topics: [{ topic, partitions: offsets.map((o) => ({ partition: o.partition, offset: o.offset })) }],
      });
      return;
    } catch (err) {
      const { name, code, type } = err as { name?: string; code?: unknown; type?: string };
      const kafkaCode = typeof code === 'number' ? code : undefined;
      if (kafkaCode !== undefined && GROUP_HAS_MEMBERS.has(kafkaCode)) {
        throw new GatewayError(
          'GW_ERR_INTERNAL',
          `Kafka refused the offset commit of ${where}: ${type ?? kafkaCode} (the group has live members, ` +
            'and Kafka takes their commits only from them; Bus.commitOffsets is for groups without subscribers)',
          { cause: err },
        );
      }
      const transient =
        (kafkaCode !== undefined && COORDINATOR_MOVED.has(kafkaCode)) ||
        (name !== undefined && CONNECTION_LOST.has(name));
      if (!transient) {
        throw new GatewayError(
          'GW_ERR_BUS_UNAVAILABLE',
          `Kafka refused the offset commit of ${where}: ${type ?? name ?? 'error'}: ${errorMessage(err)}`,
          { cause: err },
        );
      }
      if (attempt >= retry.attempts || Date.now() + backoffMs > deadline) {
        throw new GatewayError(
          'GW_ERR_BUS_UNAVAILABLE',
          `The offset commit of ${where} found no group coordinator that took it after ${attempt} attempts: ` +
            `${type ?? name}: ${errorMessage(err)}`,
          { cause: err },
        );
      }
      await sleep(backoffMs);
      backoffMs = Math.min(backoffMs * 2, retry.maxBackoffMs);
      // The next findGroupCoordinator asks again, against brokers as the cluster knows them now.
      await cluster.refreshMetadata().catch(() => {});
    }
  }
}

interface KafkajsInternals {
  Cluster: new (options: Record<string, unknown>) => KafkajsCluster;
  createLogger(options: { level: number; logCreator: unknown }): unknown;
  socketFactory(): unknown;
  consoleLogCreator: unknown;
  infoLevel: number;
}

let internals: KafkajsInternals | undefined;

function kafkajsInternals(): KafkajsInternals {
  if (!internals) {
    const require = createRequire(import.meta.url);
    const loggers = require('kafkajs/src/loggers/index.js') as {
      createLogger: KafkajsInternals['createLogger'];
      LEVELS: { INFO: number };
    };
    internals = {
      Cluster: require('kafkajs/src/cluster/index.js') as KafkajsInternals['Cluster'],
      createLogger: loggers.createLogger,
      socketFactory: require('kafkajs/src/network/socketFactory.js') as () => unknown,
      consoleLogCreator: require('kafkajs/src/loggers/console.js') as unknown,
      infoLevel: loggers.LEVELS.INFO,
    };
  }
  return internals;
}

/**
 * One connected cluster (connections to the brokers, metadata) per KafkaBus, made on the first
 * commit and kept for the next ones: the watermark commits every few seconds.
 */
export class KafkaGroupOffsets {
  private cluster: Promise<KafkajsCluster> | undefined;
  private readonly made = new Set<KafkajsCluster>();
  private closed = false;

  /** `config`: the one the bus's Kafka client was made with, so the same brokers, TLS, SASL, timeouts and logging. */
  constructor(
    private readonly config: KafkaConfig,
    private readonly retry: CommitRetry = DEFAULT_RETRY,
  ) {}

  async commit(group: string, topic: string, offsets: GroupOffset[]): Promise<void> {
    if (offsets.length === 0) return;
    await commitWithoutMembership(await this.connected(), group, topic, offsets, this.retry);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cluster = undefined;
    const clusters = [...this.made];
    this.made.clear();
    await Promise.all(clusters.map((c) => c.disconnect().catch(() => {})));
  }

  private connected(): Promise<KafkajsCluster> {
    if (this.closed) return Promise.reject(new GatewayError('GW_ERR_BUS_UNAVAILABLE', 'The bus is closed'));
    if (!this.cluster) {
      const cluster = this.newCluster();
      this.made.add(cluster);
      const connecting = cluster.connect().then(() => cluster);
      this.cluster = connecting;
      connecting.catch(() => {
        // The next commit tries with a fresh cluster.
        if (this.cluster === connecting) this.cluster = undefined;
        this.made.delete(cluster);
        cluster.disconnect().catch(() => {});
      });
    }
    return this.cluster;
  }

  /** As kafkajs' Kafka client makes the cluster of its admin client (src/index.js), from the same config. */
  private newCluster(): KafkajsCluster {
    const k = kafkajsInternals();
    const c = this.config;
    return new k.Cluster({
      logger: k.createLogger({
        level: c.logLevel ?? k.infoLevel,
        logCreator: c.logCreator ?? k.consoleLogCreator,
      }),
      socketFactory: c.socketFactory ?? k.socketFactory(),
      brokers: c.brokers,
      ssl: c.ssl,
      sasl: c.sasl,
      clientId: c.clientId,
      // kafkajs' defaults for what the config leaves out (Client's constructor).
      connectionTimeout: c.connectionTimeout ?? 1000,
      authenticationTimeout: c.authenticationTimeout,
      reauthenticationThreshold: c.reauthenticationThreshold,
      requestTimeout: c.requestTimeout,
      enforceRequestTimeout: c.enforceRequestTimeout ?? true,
      retry: c.retry,
      metadataMaxAge: 300_000,
      allowAutoTopicCreation: false,
      maxInFlightRequests: null,
      offsets: new Map(),
    });
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
