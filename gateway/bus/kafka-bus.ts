/**
 * The Bus port on Apache Kafka (kafkajs).
 *
 * - publish: one idempotent producer (acks=all, one in-flight request per broker so retries cannot
 *   reorder); the promise resolves after the broker acknowledged every record. Publishes that arrive
 *   while a request is in flight share the next request (group commit). Records are partitioned by
 *   key with Kafka's Java-compatible murmur2 partitioner. After a send that failed, the next one goes
 *   through a fresh producer (discardProducer says why).
 * - subscribe: one kafkajs consumer per subscription in the given group, manual commits. A record's
 *   offset (+1) is committed after its handler resolved, grouped with the consumer's other partitions
 *   into one request, without holding up the next fetch; close() waits for the commits in flight before
 *   it leaves the group. If the handler throws, nothing is committed,
 *   the partition is paused, and after `redeliveryDelayMs` (or the delay of a RedeliverLater) the
 *   consumer seeks back to the failed offset and resumes, so nothing behind it overtakes it; the
 *   other partitions keep flowing. While a handler runs, the consumer keeps heartbeating.
 * - A consumer kafkajs gives up on (a crash it does not restart) is restarted here, with backoff.
 * - commitOffsets: one OffsetCommit request as a group without members (kafka-group-offsets.ts),
 *   on a cluster connection of its own kept until close().
 * - close: stops fetching, lets in-flight handlers finish (their commits included), leaves the group.
 */
import { createRequire } from 'node:module';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import {
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type IHeaders,
  type ISocketFactory,
  Kafka,
  type KafkaConfig,
  type LogEntry,
  logLevel,
  Partitioners,
  type Producer,
  type SASLOptions,
} from 'kafkajs';
import { GatewayError } from '../errors/catalogue.ts';
import type { Logger } from '../log/logger.ts';
import type {
  Bus,
  BusHealth,
  BusRecord,
  ConsumedRecord,
  GroupLag,
  PartitionOffsets,
  SubscribeOptions,
  Subscription,
  TopicSpec,
  UnsettledPublish,
} from '../ports/bus.ts';
import { KafkaGroupOffsets } from './kafka-group-offsets.ts';
import { redeliveryAfter } from './redeliver-later.ts';

export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  ssl?: boolean;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  /** Replication factor for topics created by ensureTopics. */
  replicationFactor: number;
  /** Partitions for a TopicSpec that does not name a positive count. */
  defaultPartitions: number;
  logger?: Logger;
  /** Consumer session timeout: how long a crashed subscriber holds its partitions. Default 10 000 ms. */
  sessionTimeoutMs?: number;
  /** Consumer heartbeat interval. Default 1000 ms. */
  heartbeatIntervalMs?: number;
  /** Longest a fetch waits for new records; also bounds how long close() waits for an idle fetch. Default 500 ms. */
  maxWaitTimeMs?: number;
  /** Partitions of one subscription handled concurrently (one record at a time each). Default defaultPartitions. */
  partitionsConsumedConcurrently?: number;
  /** publish() rejects ("maybe not published") when the broker has not acknowledged in time. Default 30 000 ms. */
  publishTimeoutMs?: number;
  /** health() gives up after this long. Default 2000 ms. */
  healthTimeoutMs?: number;
  /**
   * Create unknown topics on first use (publish, subscribe) with `defaultPartitions`, as the embedded
   * bus does. Default true. With false, publishing to a missing topic rejects at once (kafkajs would
   * otherwise retry forever, since the broker's auto-creation is off).
   */
  autoCreateTopics?: boolean;
}

const DEFAULT_REDELIVERY_DELAY_MS = 1000;
/** Backoff of restarting a consumer kafkajs did not restart (KafkaSubscription.restartLater). */
const CONSUMER_RESTART_MS = { first: 1000, max: 30_000 };
/** Payload bytes per produce request when publishes are grouped (the broker's default limit is 1 MiB per batch). */
const MAX_BATCH_BYTES = 512 * 1024;

interface PendingPublish {
  records: BusRecord[];
  bytes: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** The part of kafkajs' per-connection RequestQueue that fixRequestQueueTimerLoop replaces. */
interface KafkajsRequestQueue {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

/**
 * kafkajs 2.2.4 (tulios/kafkajs#1556, #1704; the fix #1667 was never released): after its first
 * response, every connection's request queue re-arms a timer with a negative delay (throttledUntil
 * starts at -1) whether or not a request waits, i.e. a 1 ms timer loop per connection for the
 * connection's lifetime: about 800 event-loop wake-ups per second, and half the CPU an idle gateway
 * spends on its twenty consumers (80 → 40 ms per second). Queued requests are sent when a request is
 * pushed or an in-flight one completes; the timer is needed only while requests wait (client-side
 * throttling, in-flight limit), so it is armed only then. Applied only to the code it was written
 * for: a kafkajs that no longer computes the delay this way is left alone.
 */
function fixRequestQueueTimerLoop(): void {
  const RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as {
    prototype: KafkajsRequestQueue;
  };
  const proto = RequestQueue.prototype;
  if (!String(proto.scheduleCheckPendingRequests).includes('this.throttledUntil - Date.now()')) return;
  proto.scheduleCheckPendingRequests = function (this: KafkajsRequestQueue) {
    if (this.throttleCheckTimeoutId || this.pending.length === 0) return;
    const untilUnthrottled = this.throttledUntil - Date.now();
    // 10 ms: kafkajs' CHECK_PENDING_REQUESTS_INTERVAL, for requests held back by the in-flight limit.
    this.throttleCheckTimeoutId = setTimeout(
      () => {
        this.throttleCheckTimeoutId = null;
        this.checkPendingRequests();
      },
      untilUnthrottled > 0 ? untilUnthrottled : 10,
    );
  };
}
fixRequestQueueTimerLoop();

/** A connection whose oldest request has had no answer for this long is taken for dead. */
const ANSWER_WATCHDOG_MS = 10_000;
/**
 * After a send that failed or outlived its caller's wait: how long the broker may still take to
 * append what it had received (its request queue); a reset socket sends nothing more.
 */
const RECEIVED_BYTES_MS = ANSWER_WATCHDOG_MS;
/**
 * The same over TLS, whose sockets are closed, not reset: the kernel retransmits what an orphaned
 * connection still held, on Linux tcp_orphan_retries times (8 by default) with a doubling timeout,
 * about 100 s from the 200 ms minimum of a fast network.
 */
const TLS_LATE_BYTES_MS = 120_000;
/**
 * Requests the broker may hold for long by design: JoinGroup and SyncGroup until the group has
 * rebalanced (up to the rebalance timeout, kafkajs' default 60 s), CreateTopics, DeleteTopics and
 * CreatePartitions until the controller is done (their own timeout).
 */
const SLOW_API_KEYS = new Set([11, 14, 19, 20, 37]);
const SLOW_ANSWER_WATCHDOG_MS = 65_000;
interface WatchedSocket {
  socket: net.Socket;
  lastReceived: number;
}
/** The watched sockets of this process by broker address (one network path each). */
const watchedByBroker = new Map<string, Set<WatchedSocket>>();

/** How long the broker may take to answer this request (a whole frame, as kafkajs writes it). */
function answerAllowance(request: Buffer): number {
  const apiKey = request.readInt16BE(4);
  if (SLOW_API_KEYS.has(apiKey)) return SLOW_ANSWER_WATCHDOG_MS;
  // Fetch (non-flexible versions, as kafkajs sends): the broker holds it up to its maxWaitTime,
  // after the header (size, apiKey, apiVersion, correlationId, clientId) and replicaId.
  if (apiKey === 1 && request.length >= 14) {
    const at = 14 + Math.max(0, request.readInt16BE(12)) + 4;
    if (request.length >= at + 4) return ANSWER_WATCHDOG_MS + Math.max(0, request.readInt32BE(at));
  }
  return ANSWER_WATCHDOG_MS;
}

/**
 * Closes a socket kafkajs uses as if the connection had failed with `error`. A plain TCP socket is
 * reset (RST, not FIN): the kernel drops what it still had to send instead of retransmitting it
 * once the path heals, so no request written to it reaches the broker afterwards. kafkajs notices a
 * dead socket only by 'error', 'end' or 'timeout', and a reset emits none of them, so the error is
 * emitted for it. A TLS socket cannot be reset (Node crashes resetting the TCP handle under a
 * TLSWrap): it is closed, and its kernel goes on retransmitting for a while (TLS_LATE_BYTES_MS).
 */
function closeSocket(socket: net.Socket, error: Error): void {
  if (socket.destroyed) return;
  if (socket instanceof tls.TLSSocket) {
    socket.destroy(error);
    return;
  }
  socket.resetAndDestroy();
  socket.emit('error', error);
}

/**
 * kafkajs' sockets, with a watchdog for a silent partition (packets dropped, no RST or FIN: a
 * firewall or NAT that lost its state, a broken path). kafkajs 2.2.4 rejects a request after
 * requestTimeout but keeps the connection: every retry goes out on the same dead socket, so a
 * producer or consumer stays stuck until the operating system gives up on the connection (minutes
 * of TCP retransmission; keepalive never probes a connection with unacknowledged data), long after
 * the path healed. Kafka answers every request we send (acks=all; fetches within maxWait), so a
 * socket that has owed an answer for ANSWER_WATCHDOG_MS is closed (closeSocket); kafkajs then
 * reconnects and retries as after a broker restart. Requests and answers are counted from the frames
 * (4-byte size prefix; kafkajs writes one request per write). Keepalive as kafkajs' own factory sets
 * it. `owned` collects a client's open sockets (a producer's, see KafkaBus.discardProducer).
 */
function answerWatchdogSocketFactory(owned?: Set<net.Socket>): ISocketFactory {
  return ({ host, port, ssl, onConnect }) => {
    const path = `${host}:${port}`;
    const socket = ssl
      ? tls.connect({ host, port, ...(net.isIP(host) ? {} : { servername: host }), ...ssl }, onConnect)
      : net.connect({ host, port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    owned?.add(socket);
    /** Deadline of each request still owed an answer, oldest first. */
    const owed: number[] = [];
    const write = socket.write;
    socket.write = function (this: net.Socket, ...args: unknown[]) {
      const chunk = args[0];
      if (Buffer.isBuffer(chunk) && chunk.length >= 6) {
        owed.push(Date.now() + answerAllowance(chunk));
      }
      return (write as (...a: unknown[]) => boolean).apply(this, args);
    } as typeof socket.write;
    // Answer framing: the bytes still to skip of the current answer, or the size prefix being read.
    let remaining = 0;
    let sizeBytes = Buffer.alloc(0);
    const watched: WatchedSocket = { socket, lastReceived: Date.now() };
    let siblings = watchedByBroker.get(path);
    if (!siblings) {
      siblings = new Set();
      watchedByBroker.set(path, siblings);
    }
    siblings.add(watched);
    socket.on('data', (data: Buffer) => {
      watched.lastReceived = Date.now();
      let at = 0;
      while (at < data.length) {
        if (remaining > 0) {
          const n = Math.min(remaining, data.length - at);
          remaining -= n;
          at += n;
          if (remaining === 0) owed.shift();
          continue;
        }
        const n = Math.min(4 - sizeBytes.length, data.length - at);
        sizeBytes = Buffer.concat([sizeBytes, data.subarray(at, at + n)]);
        at += n;
        if (sizeBytes.length === 4) {
          remaining = sizeBytes.readInt32BE(0);
          sizeBytes = Buffer.alloc(0);
          if (remaining === 0) owed.shift();
        }
      }
    });
    const timer = setInterval(() => {
      const oldest = owed[0];
      if (oldest === undefined || Date.now() <= oldest) return;
      // The other connections on the same path that have heard nothing for a while are most likely as
      // dead, only idle so far: each would otherwise cost a watchdog period of its own when next used
      // (the group coordinator's, say, idle while the fetch hung). A healthy idle one is merely
      // reconnected when next needed.
      const silentSince = Date.now() - ANSWER_WATCHDOG_MS / 2;
      const error = new Error(`no answer from the broker for ${ANSWER_WATCHDOG_MS} ms (silent connection)`);
      closeSocket(socket, error);
      for (const other of watchedByBroker.get(path) ?? []) {
        if (other.lastReceived < silentSince) closeSocket(other.socket, error);
      }
    }, 1000);
    timer.unref();
    socket.once('close', () => {
      clearInterval(timer);
      owned?.delete(socket);
      siblings.delete(watched);
      if (siblings.size === 0 && watchedByBroker.get(path) === siblings) watchedByBroker.delete(path);
    });
    return socket;
  };
}

export class KafkaBus implements Bus {
  readonly kind = 'kafka';

  private readonly kafka: Kafka;
  private readonly config: KafkaConfig;
  /** The open sockets of each producer, closed when it is discarded (discardProducer). */
  private readonly producerSockets = new WeakMap<Producer, Set<net.Socket>>();
  private readonly options: KafkaBusOptions;
  private readonly log: Logger | undefined;
  private producer: Promise<Producer> | undefined;
  private admin: Promise<Admin> | undefined;
  /** Commits without membership (commitOffsets), on a cluster of its own made from the same config. */
  private readonly groupOffsets: KafkaGroupOffsets;
  /** Every producer and admin client created, for close(). */
  private readonly clients = new Set<Producer | Admin>();
  private readonly subscriptions = new Set<KafkaSubscription>();
  /** Topics known to exist (created or seen by this instance). */
  private readonly knownTopics = new Set<string>();
  private queue: PendingPublish[] = [];
  private flushing = false;
  private closed = false;

  constructor(options: KafkaBusOptions) {
    if (options.brokers.length === 0) throw new Error('KafkaBus: no brokers configured');
    this.options = options;
    this.log = options.logger?.child({ component: 'kafka-bus' });
    const config: KafkaConfig = {
      clientId: options.clientId,
      brokers: options.brokers,
      connectionTimeout: 3000,
      requestTimeout: 30_000,
      socketFactory: answerWatchdogSocketFactory(),
      // Short backoff so that clients find a restarted broker within seconds.
      retry: { initialRetryTime: 100, maxRetryTime: 2000, retries: 10 },
      logLevel: logLevel.WARN,
      logCreator: () => (entry) => this.kafkaLog(entry),
    };
    if (options.ssl) config.ssl = true;
    if (options.sasl) config.sasl = { ...options.sasl } as SASLOptions;
    this.config = config;
    this.kafka = new Kafka(config);
    this.groupOffsets = new KafkaGroupOffsets(config);
  }

  async ensureTopics(topics: TopicSpec[]): Promise<void> {
    if (topics.length === 0) return;
    const admin = await this.getAdmin();
    const existing = new Set(await admin.listTopics());
    const missing = dedupe(topics.filter((t) => !existing.has(t.name)));
    for (const t of topics) if (existing.has(t.name)) this.knownTopics.add(t.name);
    if (missing.length === 0) return;
    try {
      await admin.createTopics({
        // kafkajs' own wait gives up on UNKNOWN_TOPIC_OR_PARTITION, which a KRaft broker answers until
        // its metadata cache caught up with the controller; waitForTopics below tolerates it.
        waitForLeaders: false,
        topics: missing.map((t) => ({
          topic: t.name,
          numPartitions: t.partitions > 0 ? t.partitions : this.options.defaultPartitions,
          replicationFactor: this.options.replicationFactor,
        })),
      });
    } catch (err) {
      // Another process created some of them in the meantime: fine, waitForTopics checks they exist.
      if (!isAlreadyExists(err)) throw err;
    }
    await this.waitForTopics(
      admin,
      missing.map((t) => t.name),
    );
    for (const t of missing) this.knownTopics.add(t.name);
  }

  /** Waits until the broker serves metadata with a leader for every partition of the topics. */
  private async waitForTopics(admin: Admin, names: string[], timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      try {
        const { topics } = await admin.fetchTopicMetadata({ topics: names });
        const ready = names.every((name) => {
          const t = topics.find((x) => x.name === name);
          return t !== undefined && t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0);
        });
        if (ready) return;
        last = 'partitions without a leader';
      } catch (err) {
        const type = kafkaErrorType(err);
        if (type !== 'UNKNOWN_TOPIC_OR_PARTITION' && type !== 'LEADER_NOT_AVAILABLE') throw err;
        last = errorMessage(err);
      }
      if (Date.now() > deadline) {
        throw new Error(`KafkaBus: topics ${names.join(', ')} not ready after ${timeoutMs} ms: ${last}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Makes sure the topics exist before producing to or consuming from them (see autoCreateTopics). */
  private async prepareTopics(names: string[]): Promise<void> {
    const unknown = [...new Set(names)].filter((n) => !this.knownTopics.has(n));
    if (unknown.length === 0) return;
    if (this.options.autoCreateTopics ?? true) {
      await this.ensureTopics(unknown.map((name) => ({ name, partitions: this.options.defaultPartitions })));
      return;
    }
    const admin = await this.getAdmin();
    const existing = new Set(await admin.listTopics());
    const absent = unknown.filter((n) => !existing.has(n));
    if (absent.length > 0) throw new Error(`KafkaBus: unknown topic(s): ${absent.join(', ')}`);
    for (const n of unknown) this.knownTopics.add(n);
  }

  async publish(records: BusRecord[]): Promise<void> {
    this.assertOpen();
    if (records.length === 0) return;
    const timeoutMs = this.options.publishTimeoutMs ?? 30_000;
    const pending: PendingPublish = {
      records,
      bytes: records.reduce((n, r) => n + r.value.length, 0),
      resolve: () => {},
      reject: () => {},
    };
    const acknowledged = new Promise<void>((resolve, reject) => {
      pending.resolve = resolve;
      pending.reject = reject;
    });
    let queued = false;
    try {
      await withTimeout(
        (async () => {
          await this.prepareTopics(records.map((r) => r.topic));
          this.assertOpen();
          this.queue.push(pending);
          queued = true;
          if (!this.flushing) void this.flushQueue();
          await acknowledged;
        })(),
        timeoutMs,
        () => `not acknowledged within ${timeoutMs} ms`,
      );
    } catch (err) {
      // Still waiting behind a stuck send: taken out of the queue, so it is certainly not published.
      const index = this.queue.indexOf(pending);
      if (index >= 0) this.queue.splice(index, 1);
      const error = new GatewayError(
        'GW_ERR_BUS_UNAVAILABLE',
        `The records could not be published: ${errorMessage(err)}`,
        {
          cause: err,
        },
      );
      if (!queued || index >= 0) throw error;
      // Otherwise "maybe not published": the caller must not acknowledge. A send that timed out goes
      // on retrying in the background, so its records may still land; the caller learns when they
      // no longer can (a resend is deduplicated by message id meanwhile).
      const settled: UnsettledPublish['settled'] = acknowledged
        .then(
          () => {},
          () => {},
        )
        .then(() =>
          sleep(this.options.ssl ? TLS_LATE_BYTES_MS : RECEIVED_BYTES_MS, undefined, { ref: false }),
        );
      throw Object.assign(error, { settled });
    }
  }

  /**
   * Group commit: publishes that arrive while a produce request is in flight wait and go out
   * together in the next one (the idempotent producer allows one request in flight anyway), up to
   * MAX_BATCH_BYTES so that no partition's record batch comes near the broker's message.max.bytes.
   */
  private async flushQueue(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch: PendingPublish[] = [];
        let bytes = 0;
        while (
          this.queue.length > 0 &&
          (batch.length === 0 || bytes + this.queue[0]!.bytes <= MAX_BATCH_BYTES)
        ) {
          const next = this.queue.shift()!;
          bytes += next.bytes;
          batch.push(next);
        }
        try {
          await this.send(batch.flatMap((p) => p.records));
          for (const p of batch) p.resolve();
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async send(records: BusRecord[]): Promise<void> {
    const connecting = this.getProducer();
    const producer = await connecting;
    const byTopic = new Map<string, { key: string; value: Buffer; headers: IHeaders }[]>();
    for (const r of records) {
      let list = byTopic.get(r.topic);
      if (!list) {
        list = [];
        byTopic.set(r.topic, list);
      }
      list.push({ key: r.key, value: r.value, headers: { ...r.headers } });
    }
    try {
      await producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
    } catch (err) {
      this.log?.warn({ err: errorMessage(err) }, 'Kafka send failed; the next goes through a fresh producer');
      this.discardProducer(connecting, producer);
      throw err;
    }
  }

  /**
   * A send that failed may have been appended by the broker all the same (its answer lost with the
   * connection), yet kafkajs takes its sequence numbers back for a resend; when it then gives up (it
   * reconnects a bounded number of times, whatever the producer's retries), the next records of the
   * partition would go out under those numbers, and the broker, taking them for a resend of what it
   * appended, would answer success without appending them: acknowledged, and on no topic. A fresh
   * producer has a new producer id, so its numbers cannot meet the old ones. Its sockets are closed
   * (reset, where they can be) first: what they still hold must not reach the broker later, after
   * the caller was told the send failed (publishSettled).
   */
  private discardProducer(connecting: Promise<Producer>, producer: Producer): void {
    if (this.producer === connecting) this.producer = undefined;
    this.clients.delete(producer);
    const error = new Error('producer discarded after a failed send');
    for (const socket of this.producerSockets.get(producer) ?? []) closeSocket(socket, error);
    producer.disconnect().catch(() => {});
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    this.assertOpen();
    await this.prepareTopics(options.topics);
    const consumer = this.kafka.consumer({
      groupId: options.group,
      sessionTimeout: this.options.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: this.options.heartbeatIntervalMs ?? 1000,
      maxWaitTimeInMs: this.options.maxWaitTimeMs ?? 500,
      // Memory: kafkajs fetches up to 1 MB per partition and 10 MB per request by default, for every
      // consumer (two groups per system); a backlog then sat in buffers the handler works through at
      // a few hundred records per second. 256 KB (≈ 50 sealed documents) per partition keeps every
      // partition busy and the gateway's peak RSS within its budget.
      maxBytesPerPartition: 256 * 1024,
      maxBytes: 4 * 1024 * 1024,
      allowAutoTopicCreation: false,
      retry: { initialRetryTime: 100, maxRetryTime: 2000, retries: 10 },
    });
    const subscription = new KafkaSubscription(
      consumer,
      options,
      this.log,
      () => this.subscriptions.delete(subscription),
      this.options.heartbeatIntervalMs ?? 1000,
    );
    this.subscriptions.add(subscription);
    try {
      await subscription.start(this.options.partitionsConsumedConcurrently ?? this.options.defaultPartitions);
    } catch (err) {
      this.subscriptions.delete(subscription);
      await consumer.disconnect().catch(() => {});
      throw err;
    }
    return subscription;
  }

  async lag(group: string, topic: string): Promise<GroupLag[]> {
    const admin = await this.getAdmin();
    const [committed, ends] = await Promise.all([
      this.fetchCommitted(admin, group, topic),
      admin.fetchTopicOffsets(topic),
    ]);
    const committedByPartition = new Map<number, bigint>();
    for (const t of committed) {
      if (t.topic !== topic) continue;
      for (const p of t.partitions) committedByPartition.set(p.partition, BigInt(p.offset));
    }
    return ends
      .map((end) => {
        const high = BigInt(end.high);
        const low = BigInt(end.low);
        const c = committedByPartition.get(end.partition) ?? -1n;
        // No commit yet: everything still retained counts.
        const from = c < 0n ? low : c;
        const lag = high > from ? high - from : 0n;
        return { topic, partition: end.partition, lag: Number(lag) };
      })
      .sort((a, b) => a.partition - b.partition);
  }

  async offsets(group: string, topic: string): Promise<PartitionOffsets[]> {
    const admin = await this.getAdmin();
    if (!(await admin.listTopics()).includes(topic)) return [];
    const [committed, ends] = await Promise.all([
      this.fetchCommitted(admin, group, topic),
      this.topicEnds(admin, topic),
    ]);
    const committedByPartition = new Map<number, string>();
    for (const t of committed) {
      if (t.topic !== topic) continue;
      // -1: no commit on that partition.
      for (const p of t.partitions)
        if (BigInt(p.offset) >= 0n) committedByPartition.set(p.partition, p.offset);
    }
    return ends
      .map((end) => ({
        partition: end.partition,
        end: end.high,
        committed: committedByPartition.get(end.partition) ?? null,
      }))
      .sort((a, b) => a.partition - b.partition);
  }

  /**
   * OffsetFetch of a group on a topic; retried for up to 30 s while the group's coordinator moves or
   * loads (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE), as on a broker
   * that just started and is still making __consumer_offsets: kafkajs' admin.fetchOffsets asks the
   * coordinator it found once, and the gateway's start reads the ingress audit bookmark this way.
   */
  private async fetchCommitted(admin: Admin, group: string, topic: string) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        return await admin.fetchOffsets({ groupId: group, topics: [topic] });
      } catch (err) {
        const type = kafkaErrorType(err);
        const moving =
          type === 'NOT_COORDINATOR_FOR_GROUP' ||
          type === 'GROUP_LOAD_IN_PROGRESS' ||
          type === 'GROUP_COORDINATOR_NOT_AVAILABLE';
        if (!moving || Date.now() > deadline) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * ListOffsets of a topic; retried for up to 10 s while a partition has no leader the broker
   * knows yet (NOT_LEADER_FOR_PARTITION, LEADER_NOT_AVAILABLE), as right after the topic was made.
   */
  private async topicEnds(admin: Admin, topic: string) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        return await admin.fetchTopicOffsets(topic);
      } catch (err) {
        const type = kafkaErrorType(err);
        const leaderless = type === 'NOT_LEADER_FOR_PARTITION' || type === 'LEADER_NOT_AVAILABLE';
        if (!leaderless || Date.now() > deadline) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async commitOffsets(
    group: string,
    topic: string,
    offsets: { partition: number; offset: string }[],
  ): Promise<void> {
    this.assertOpen();
    if (offsets.length === 0) return;
    // One OffsetCommit request as a group without members (kafka-group-offsets.ts), not
    // admin.setOffsets, which joins the group with a consumer (seconds per call).
    await this.groupOffsets.commit(group, topic, offsets);
  }

  async health(): Promise<BusHealth> {
    if (this.closed) return { ok: false, detail: 'closed' };
    const timeoutMs = this.options.healthTimeoutMs ?? 2000;
    try {
      const admin = await withTimeout(
        this.getAdmin(),
        timeoutMs,
        () => `no connection within ${timeoutMs} ms`,
      );
      const cluster = await withTimeout(
        admin.describeCluster(),
        timeoutMs,
        () => `describeCluster timed out after ${timeoutMs} ms`,
      );
      return {
        ok: cluster.brokers.length > 0,
        detail: `kafka: ${cluster.brokers.length} broker(s), controller ${cluster.controller ?? 'unknown'}`,
      };
    } catch (err) {
      return { ok: false, detail: `kafka: ${errorMessage(err)}` };
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const queued = this.queue.splice(0);
    for (const p of queued) p.reject(new GatewayError('GW_ERR_BUS_UNAVAILABLE', 'The bus is closed'));
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    this.producer = undefined;
    this.admin = undefined;
    // Disconnect the clients themselves, not their pending connect(): with the broker away a connect
    // can retry for a long time, and disconnect() ends it.
    const clients = [...this.clients];
    this.clients.clear();
    await Promise.all([
      ...clients.map((c) => withTimeout(c.disconnect(), 5000, () => 'disconnect timed out').catch(() => {})),
      withTimeout(this.groupOffsets.close(), 5000, () => 'disconnect timed out').catch(() => {}),
    ]);
  }

  private assertOpen(): void {
    if (this.closed) throw new GatewayError('GW_ERR_BUS_UNAVAILABLE', 'The bus is closed');
  }

  private getProducer(): Promise<Producer> {
    if (!this.producer) {
      // A client of its own, so that its sockets are known when it is discarded.
      const sockets = new Set<net.Socket>();
      const kafka = new Kafka({ ...this.config, socketFactory: answerWatchdogSocketFactory(sockets) });
      const producer = kafka.producer({
        idempotent: true,
        // Idempotence with kafkajs: one request in flight per broker keeps retries in order.
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: { initialRetryTime: 100, maxRetryTime: 2000, retries: Number.MAX_SAFE_INTEGER },
      });
      this.producerSockets.set(producer, sockets);
      this.clients.add(producer);
      const connecting = producer.connect().then(() => producer);
      this.producer = connecting;
      connecting.catch(() => {
        // Next publish tries with a fresh client.
        if (this.producer === connecting) this.producer = undefined;
        this.clients.delete(producer);
        producer.disconnect().catch(() => {});
      });
    }
    return this.producer;
  }

  private getAdmin(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin({ retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: 5 } });
      this.clients.add(admin);
      const connecting = admin.connect().then(() => admin);
      this.admin = connecting;
      connecting.catch(() => {
        if (this.admin === connecting) this.admin = undefined;
        this.clients.delete(admin);
        admin.disconnect().catch(() => {});
      });
    }
    return this.admin;
  }

  private kafkaLog(entry: LogEntry): void {
    if (!this.log) return;
    const {
      message,
      timestamp: _t,
      logger: _l,
      ...extra
    } = entry.log as typeof entry.log & { logger?: string };
    const fields = { kafka: { namespace: entry.namespace, ...extra } };
    // kafkajs logs retriable failures at ERROR: every error response in its Connection layer
    // (coordinator loading, rebalance in progress, broker restarting), every producer attempt that
    // will be retried (e.g. NOT_LEADER_OR_FOLLOWER on a partition still being created) and every
    // failed connection attempt to a seed broker. The caller sees the final outcome (publish
    // rejects; a consumer that runs out of retries logs its crash and restart at ERROR), so those
    // are warnings here.
    const text = String(message);
    const retriable =
      entry.namespace === 'Connection' ||
      (entry.namespace === 'Producer' && text.startsWith('Failed to send messages')) ||
      (entry.namespace === 'BrokerPool' && text.startsWith('Failed to connect to seed broker'));
    if (entry.level === logLevel.ERROR && !retriable) this.log.error(fields, message);
    else if (entry.level === logLevel.ERROR) this.log.warn(fields, message);
    else if (entry.level === logLevel.WARN) this.log.warn(fields, message);
    else if (entry.level === logLevel.INFO) this.log.info(fields, message);
    else this.log.debug(fields, message);
  }
}

class KafkaSubscription implements Subscription {
  private readonly redeliveryDelayMs: number;
  private readonly heartbeatIntervalMs: number;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly commits = new OffsetCommits();
  private closing: Promise<void> | undefined;
  private concurrency = 1;
  private restartDelayMs = CONSUMER_RESTART_MS.first;
  /** A restart under way (connect, run); close() waits for it before it disconnects. */
  private restarting: Promise<void> | undefined;

  constructor(
    private readonly consumer: Consumer,
    private readonly options: SubscribeOptions,
    private readonly log: Logger | undefined,
    private readonly onClosed: () => void,
    heartbeatIntervalMs: number,
  ) {
    this.redeliveryDelayMs = options.redeliveryDelayMs ?? DEFAULT_REDELIVERY_DELAY_MS;
    this.heartbeatIntervalMs = heartbeatIntervalMs;
  }

  async start(concurrency: number): Promise<void> {
    this.concurrency = concurrency;
    // kafkajs restarts a consumer only after a crash it deems retriable, and ends it otherwise. Among
    // the latter is KafkaJSGroupCoordinatorNotFound, which it throws when every FindCoordinator
    // attempt failed for a reason it does not retry (a connection closed under it, NOT_COORDINATOR),
    // as happens while a broker stops or starts (tulios/kafkajs#1445, #1630): the subscription would
    // never receive a record again while ingress goes on accepting them. So it is restarted here.
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      const { error, restart } = event.payload;
      if (restart || this.closing) return;
      const delayMs = this.restartDelayMs;
      this.restartDelayMs = Math.min(delayMs * 2, CONSUMER_RESTART_MS.max);
      this.log?.error(
        { group: this.options.group, topics: this.options.topics, err: errorMessage(error), delayMs },
        'Kafka consumer stopped after an error kafkajs does not restart from; restarting it',
      );
      this.restartLater(delayMs);
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, () => {
      this.restartDelayMs = CONSUMER_RESTART_MS.first;
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.options.topics, fromBeginning: true });
    await this.run();
  }

  /** Starts consuming; kafkajs reports a failure to join as a CRASH event, not by rejecting. */
  private run(): Promise<void> {
    return this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.concurrency,
      eachBatch: (payload) => this.eachBatch(payload),
    });
  }

  /**
   * kafkajs has disconnected the crashed consumer (it emits CRASH after that); the same consumer
   * connects and runs again with its subscription. A connect that fails (broker still away) is
   * tried again with a longer delay.
   */
  private restartLater(delayMs: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.closing) return;
      this.restarting = (async () => {
        try {
          await this.consumer.connect();
          if (this.closing) return;
          await this.run();
        } catch (err) {
          if (this.closing) return;
          const nextMs = this.restartDelayMs;
          this.restartDelayMs = Math.min(nextMs * 2, CONSUMER_RESTART_MS.max);
          this.log?.warn(
            { group: this.options.group, err: errorMessage(err), delayMs: nextMs },
            'Kafka consumer restart failed; trying again',
          );
          this.restartLater(nextMs);
        }
      })().finally(() => {
        this.restarting = undefined;
      });
    }, delayMs);
    this.timers.add(timer);
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.closing = (async () => {
        for (const t of this.timers) clearTimeout(t);
        this.timers.clear();
        // A restart's connect must not outlive the disconnect below.
        await this.restarting;
        // Batches do not wait for their commits (eachBatch); those still in flight go out while
        // this consumer is a member. Batches still running wait for their own, seeing `closing`.
        await this.commits.idle();
        try {
          // kafkajs: stop fetching, wait for the running batches (our handlers and their commits),
          // leave the group, close the connections.
          await this.consumer.disconnect();
        } finally {
          this.onClosed();
        }
      })();
    }
    return this.closing;
  }

  private async eachBatch(payload: EachBatchPayload) {
    const { batch, resolveOffset, heartbeat, pause, isRunning, isStale, commitOffsetsIfNecessary } = payload;
    const { topic, partition } = batch;
    // kafkajs heartbeats only between records; a slow handler (a push waiting for its timeout)
    // must not cost the group membership.
    const keepAlive = setInterval(() => {
      heartbeat().catch(() => {});
    }, this.heartbeatIntervalMs);
    let committed: Promise<void> | undefined;
    try {
      for (const message of batch.messages) {
        if (!isRunning() || isStale() || this.closing) return;
        const record: ConsumedRecord = {
          topic,
          partition,
          offset: message.offset,
          timestamp: Number(message.timestamp),
          key: message.key ? message.key.toString('utf8') : '',
          value: message.value ?? Buffer.alloc(0),
          headers: headersToStrings(message.headers),
        };
        try {
          await this.options.handler(record);
        } catch (err) {
          this.redeliverLater(err, topic, partition, message.offset, pause);
          return;
        }
        resolveOffset(message.offset);
        // Committed together with the other partitions' records (see OffsetCommits); only the
        // batch's last commit is awaited, below: a later offset of the partition covers the earlier.
        committed = this.commits.commit(
          commitOffsetsIfNecessary,
          topic,
          partition,
          nextOffset(message.offset),
        );
        committed.catch(() => {});
        await heartbeat();
      }
    } finally {
      clearInterval(keepAlive);
      // kafkajs fetches again only once every batch of the last fetch is done, so a batch waiting for
      // its commit's round trip would hold up the records of all the consumer's partitions; the
      // commit goes on in the background (a failed one means redelivery, which at-least-once allows).
      // While closing, the batch waits for it: close() leaves the group once the running batches end.
      if (committed && this.closing) await committed;
    }
  }

  /**
   * A failed record is not committed. Hold the partition so nothing behind it overtakes it, and hand
   * it out again after the delay (seek back, resume). Other partitions go on.
   */
  private redeliverLater(
    err: unknown,
    topic: string,
    partition: number,
    offset: string,
    pause: EachBatchPayload['pause'],
  ): void {
    const { delayMs, planned } = redeliveryAfter(err, this.redeliveryDelayMs);
    const fields = { topic, partition, offset, group: this.options.group, delayMs, err: errorMessage(err) };
    if (planned) this.log?.debug(fields, 'record deferred; it will be redelivered');
    else this.log?.warn(fields, 'handler failed; record will be redelivered');
    const resume = pause();
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.closing) return;
      try {
        this.consumer.seek({ topic, partition, offset });
      } catch (seekErr) {
        this.log?.warn({ topic, partition, err: errorMessage(seekErr) }, 'seek for redelivery failed');
      }
      resume();
    }, delayMs);
    this.timers.add(timer);
  }
}

type CommitOffsets = EachBatchPayload['commitOffsetsIfNecessary'];

/**
 * Group commit of one consumer's offsets: commits requested while an OffsetCommit request is in
 * flight go out together in the next one, the latest offset per partition. One request per record
 * and partition (two per message through the gateway: the document and its receipt) cost more
 * CPU than the records' own fetches. The request goes straight to the coordinator through a
 * batch's commitOffsetsIfNecessary (Consumer.commitOffsets silently does nothing once the consumer
 * is stopping, which would lose the commits of the handlers close() waits for); every batch of a
 * consumer shares its consumer group, so any batch's function commits the others' offsets too.
 */
class OffsetCommits {
  private pending = new Map<string, { topic: string; partition: number; offset: string }>();
  private waiting: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private sending = false;
  /** The drain under way, for idle(). */
  private draining: Promise<void> = Promise.resolve();
  private send: CommitOffsets | undefined;

  /** Resolves once `offset` (the next record to read) of the partition is committed. */
  commit(send: CommitOffsets, topic: string, partition: number, offset: string): Promise<void> {
    this.pending.set(`${partition}:${topic}`, { topic, partition, offset });
    this.send = send;
    const done = new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
    if (!this.sending) this.draining = this.drain();
    return done;
  }

  /** Resolves once every commit requested so far was sent and answered (or failed). */
  idle(): Promise<void> {
    return this.draining;
  }

  private async drain(): Promise<void> {
    this.sending = true;
    try {
      while (this.pending.size > 0) {
        const offsets = [...this.pending.values()];
        const waiting = this.waiting;
        this.pending = new Map();
        this.waiting = [];
        const byTopic = new Map<string, { partition: number; offset: string }[]>();
        for (const { topic, partition, offset } of offsets) {
          let partitions = byTopic.get(topic);
          if (!partitions) {
            partitions = [];
            byTopic.set(topic, partitions);
          }
          partitions.push({ partition, offset });
        }
        try {
          await this.send!({ topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) });
          for (const w of waiting) w.resolve();
        } catch (err) {
          for (const w of waiting) w.reject(err);
        }
      }
    } finally {
      this.sending = false;
    }
  }
}

function nextOffset(offset: string): string {
  return (BigInt(offset) + 1n).toString();
}

function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const [name, value] of Object.entries(headers)) {
    // A repeated header: the last value wins (as in most Kafka clients' lastHeader()). A null
    // value (possible from other clients) becomes ''.
    const v: Buffer | string | null | undefined = Array.isArray(value) ? value[value.length - 1] : value;
    out[name] = v == null ? '' : typeof v === 'string' ? v : v.toString('utf8');
  }
  return out;
}

function dedupe(topics: TopicSpec[]): TopicSpec[] {
  const seen = new Map<string, TopicSpec>();
  for (const t of topics) if (!seen.has(t.name)) seen.set(t.name, t);
  return [...seen.values()];
}

function isAlreadyExists(err: unknown): boolean {
  const e = err as { errors?: { type?: string }[] } | undefined;
  if (kafkaErrorType(err) === 'TOPIC_ALREADY_EXISTS') return true;
  return (
    Array.isArray(e?.errors) &&
    e.errors.length > 0 &&
    e.errors.every((x) => x.type === 'TOPIC_ALREADY_EXISTS')
  );
}

/** The Kafka error code name (e.g. UNKNOWN_TOPIC_OR_PARTITION), also through kafkajs' retry wrappers. */
function kafkaErrorType(err: unknown): string | undefined {
  let e = err as { type?: string; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 5; depth++) {
    if (typeof e.type === 'string') return e.type;
    e = e.cause as { type?: string; cause?: unknown } | undefined;
  }
  return undefined;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message())), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
