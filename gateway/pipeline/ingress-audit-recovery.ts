/**
 * The ingress's audit entries of messages it published and then stopped before appending them
 * (SIGKILL, OOM, power loss between the publish and the append): written at the next start from the
 * records on the bus.
 *
 * The ingress publishes first and audits after (published-audit.ts says why). A failed append is
 * spooled; a process that dies before the append leaves nothing but the record on the bus, which
 * is delivered. Without this, the trail would lack the message's `accepted` (an auditor sees a
 * delivered message nobody accepted), and the replay check, which asks the trail, would let the
 * sender's resend of the nachrichtenUUID be published a second time.
 *
 * How, through the Bus port only (so Kafka as well as the embedded SQLite bus):
 * - Each record the ingress publishes names its audit chain (HEADER.auditChain) and its entries'
 *   idempotency keys (HEADER.auditKey, taken before the publish), and carries what its entries say
 *   (ids, authorities, systems, types, digest, request id; the received type after a conversion and
 *   the sender's signature, when there are any).
 * - A bookmark per chain: the committed offsets of the consumer group `<prefix>.ingress-audit.<chain>`
 *   (never subscribed while the gateway runs) on every deliver topic. Every record of the chain
 *   below it has its entries in the trail or in the spool. IngressAuditWatermark moves it every few
 *   seconds: it reads the topics' ends, waits until every publish under way then has its entries
 *   landed or spooled (InFlightPublishes: a counter per request on the hot path, nothing else),
 *   and commits those ends. A record below an end read at T was published before T; its request was
 *   then under way (and is waited for) or done.
 * - At start (recoverIngressAudit, app.ts, after the spool is replayed and before messages are taken
 *   or delivered) the group reads what lies beyond the bookmark, the last seconds before the stop:
 *   a record of this chain (not a dead-letter replay) whose nachrichtenUUID has no `accepted` gets its
 *   entries appended, each marked `recoveredFrom: 'bus'` with the record's publish time and position,
 *   under the keys the ingress gave them: a second start writes nothing again, nor does an append
 *   of the same entries by the ingress itself (another process still appending on a shared chain,
 *   a spooled batch). The group commits a record only after its entries landed (or were spooled by
 *   published-audit.ts), so a crash during the recovery repeats it.
 * - The first start on a chain without a bookmark (a new installation, or one from before this)
 *   sets it at the topics' ends without reading them: records from before carry no chain.
 * - A publish that failed may have landed all the same (the Bus port's "maybe not published": a
 *   Kafka send that outlived the publish timeout, an answer lost with its connection). Its sender was
 *   answered 503 and its trail says `failed`, yet its record would be delivered with no `accepted`.
 *   So while the gateway runs, the bookmark stays where it is from such a failure until the bus says
 *   nothing more of that publish can land (publishSettled; PublishDoubts); then the records past it
 *   are checked as at a start, and those without entries get them. The resend the 503 asked for is
 *   then refused as already accepted, or, if it came first, was accepted and delivered once (delivery
 *   drops the second record by nachrichtenUUID) and the late record gets no entries.
 *
 * Replicas (Kafka, PostgreSQL audit) with a chain each (as the shipped manifests run them): each
 * reads all deliver records past its own bookmark and writes entries only for those of its chain. A
 * replica replaced under a new chain name leaves the records of its last seconds to nobody: keep
 * GATEWAY_AUDIT_CHAIN per replica stable (deploy/README.md). Processes sharing a chain share its
 * bookmark too, and one moves it without waiting for the others' publishes: entries are never
 * written twice (the keys), but a process killed in the window may find its record behind the
 * bookmark another one moved, and then it is not recovered.
 *
 * Kafka: wired for both buses (app.ts). KafkaBus.commitOffsets moves the bookmark without joining
 * its group: one OffsetCommit request with generation -1 and no member id, as Java's
 * AdminClient.alterConsumerGroupOffsets sends (bus/kafka-group-offsets.ts; kafkajs' admin.setOffsets
 * joins the group with a consumer, about 5 s per call). A move is then milliseconds (a request per
 * topic moved), and so is the first start's bookmark over every deliver topic. Every start reads the
 * committed offsets and ends of every deliver topic (a few admin requests each, under a second for
 * the shipped directory); only a start that finds records past the bookmark joins the group, once, to
 * read them (the broker's group.initial.rebalance.delay.ms, 3 s by default, comes on top), and leaves
 * it before the watermark's first move. Kafka refuses a memberless commit while the group has a
 * member: a move that meets another process's recovery on a shared chain fails and is made at the
 * next tick.
 */
import type { AuditRecordInput } from '../audit/audit-log.ts';
import { HEADER } from '../bus/topics.ts';
import type { Logger } from '../log/logger.ts';
import type { Bus, ConsumedRecord } from '../ports/bus.ts';
import type { PublishedEntries } from './published-audit.ts';
import { settledWithin } from './settled-within.ts';

/** How long stop() waits for a move under way and for the last one: a publish that hangs must not hold up the stop. */
const STOP_WAIT_MS = 5_000;

/**
 * How often every partition's bookmark is committed again, moved or not: Kafka drops the committed
 * offsets of a group without members after offsets.retention.minutes (7 days by default), and a
 * deliver topic without traffic would then be read from its start at the next start.
 */
const REFRESH_MS = 60 * 60_000;

/**
 * The publishes whose audit entries have not landed (or been spooled) yet, counted by generation:
 * drain() waits for those that began before it, not for those that begin while it waits.
 */
export class InFlightPublishes {
  private generation = 0;
  /** Publishes under way per generation; a generation is removed once none is. */
  private readonly counts = new Map<number, number>();
  private waiters: { upTo: number; resolve: () => void }[] = [];

  /** Before the publish; returns the token for leave(). */
  enter(): number {
    const g = this.generation;
    this.counts.set(g, (this.counts.get(g) ?? 0) + 1);
    return g;
  }

  /** Once the entries landed or are spooled, or nothing was published. */
  leave(token: number): void {
    const n = (this.counts.get(token) ?? 1) - 1;
    if (n > 0) {
      this.counts.set(token, n);
      return;
    }
    this.counts.delete(token);
    if (this.waiters.length > 0) this.wake();
  }

  /** Resolves once every publish that entered before this call has left. */
  drain(): Promise<void> {
    const upTo = this.generation++;
    if (!this.anyUpTo(upTo)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ upTo, resolve }));
  }

  /** Publishes under way (diagnostics, tests). */
  get size(): number {
    let n = 0;
    for (const c of this.counts.values()) n += c;
    return n;
  }

  private anyUpTo(upTo: number): boolean {
    for (const g of this.counts.keys()) if (g <= upTo) return true;
    return false;
  }

  private wake(): void {
    this.waiters = this.waiters.filter((w) => {
      if (this.anyUpTo(w.upTo)) return true;
      w.resolve();
      return false;
    });
  }
}

/**
 * Publishes that failed without the bus knowing whether their records landed, counted until a check
 * of the records past the bookmark (IngressAuditWatermark) has covered them.
 */
export class PublishDoubts {
  private registered = 0;
  private unsettled = 0;

  /** A failed publish; `settled` (publishSettled) resolves once nothing more of it can land. */
  add(settled: Promise<void>): void {
    this.registered++;
    this.unsettled++;
    const done = () => {
      this.unsettled--;
    };
    settled.then(done, done);
  }

  /** Failed publishes not yet covered by a check. */
  get count(): number {
    return this.registered;
  }

  /** Whether every one of them has settled: a check now covers all of them. */
  get settled(): boolean {
    return this.unsettled === 0;
  }

  /** A check that began when `count` was `n` has covered those. */
  covered(n: number): void {
    this.registered -= n;
  }
}

/**
 * The ingress entries of a record on a deliver topic, as the ingress would have written them, or
 * undefined if it is not a record the ingress of `chain` published (another replica's, a receipt,
 * a dead-letter replay, a record from before records named their chain).
 */
export function recoveredEntriesOf(record: ConsumedRecord, chain: string): PublishedEntries | undefined {
  const h = record.headers;
  if (h[HEADER.auditChain] !== chain || h[HEADER.replayedFrom] !== undefined) return undefined;
  const messageId = h[HEADER.messageId];
  const requestId = h[HEADER.requestId];
  const sealedType = h[HEADER.messageType];
  if (!messageId || !requestId || !sealedType) return undefined;
  const receivedType = h[HEADER.receivedType];
  const senderSystem = h[HEADER.senderSystem] ?? null;
  const recovered = {
    recoveredFrom: 'bus',
    publishedAt: new Date(record.timestamp).toISOString(),
    busPosition: `${record.topic}/${record.partition}/${record.offset}`,
  };
  const common = {
    actor: `system:${senderSystem}`,
    messageId,
    sender: h[HEADER.sender] ?? null,
    receiver: h[HEADER.receiver] ?? null,
    senderSystem,
    receiverSystem: h[HEADER.receiverSystem] ?? null,
    messageType: receivedType ?? sealedType,
  };
  const sealedAs = { ...common, actor: 'gateway', messageType: sealedType, digest: h[HEADER.digest] ?? null };
  const senderDigest = h[HEADER.senderSignatureDigest];
  const entries: AuditRecordInput[] = [
    {
      ...common,
      kind: 'received',
      detail: {
        requestId,
        ...(senderDigest
          ? { senderSignature: { digest: senderDigest, signerSerial: h[HEADER.senderSignerSerial] ?? null } }
          : {}),
        ...recovered,
      },
    },
    // The case key is the referenzUUID, or the message's own id when it has none.
    {
      ...common,
      kind: 'accepted',
      detail: { referenzUUID: record.key === messageId ? null : record.key, ...recovered },
    },
    ...(receivedType
      ? [
          {
            ...sealedAs,
            kind: 'converted' as const,
            detail: { from: receivedType, to: sealedType, ...recovered },
          },
        ]
      : []),
    { ...sealedAs, kind: 'signed', detail: { ...recovered } },
    { ...sealedAs, kind: 'queued', detail: { ...recovered } },
  ];
  // The ingress's own keys, named by the record: should the process that published it still be
  // appending (another one on a shared chain), the store takes the entries once.
  const key = h[HEADER.auditKey];
  const cut = key ? key.lastIndexOf('/') + 1 : 0;
  const first = key ? Number(key.slice(cut)) : Number.NaN;
  for (let n = 0; n < entries.length; n++) {
    entries[n]!.idempotencyKey = Number.isSafeInteger(first)
      ? key!.slice(0, cut) + (first + n)
      : `ingress-recovered/${messageId}/${n}`;
  }
  return { requestId, messageIds: [messageId], entries };
}

export interface IngressAuditRecoveryOptions {
  bus: Bus;
  /** ingressAuditGroup(prefix, chain): the bookmark. */
  group: string;
  /** The deliver topics (one per system of the directory). */
  topics: string[];
  /** Their partition count (config bus.partitions), for those not made yet. */
  partitions: number;
  /** The chain this process appends to. */
  chain: string;
  /** Whether the message's entries need no recovery: `accepted` in the trail, or pending already (spool). */
  isAudited(messageId: string): Promise<boolean>;
  /**
   * Appends a record's entries; resolves once they landed or are durably pending
   * (Ingress.appendRecovered), saying whether it wrote them (false: left to a request holding the id).
   */
  append(batch: PublishedEntries, record: ConsumedRecord): Promise<boolean>;
  logger: Logger;
  /** How long reading the records past the bookmark may take; default 120 s. */
  timeoutMs?: number;
  /** Why the records are read: said in the log line of each message whose entries were written. */
  occasion?: string;
}

export interface IngressAuditRecovery {
  /** Records read past the bookmark. */
  scanned: number;
  /** Messages whose entries were written from their record. */
  recovered: number;
  /** No bookmark yet: it was set at the topics' ends, nothing read. */
  bookmarkSet: boolean;
}

/** At start, before messages are taken: see the file comment. */
export async function recoverIngressAudit(
  options: IngressAuditRecoveryOptions,
): Promise<IngressAuditRecovery> {
  const { bus, group, topics, chain, logger } = options;
  // Made now if they are not (as the delivery worker would): on a fresh data directory the first
  // start's bookmark must exist even before the first publish, or the next start would take itself
  // for the first again and skip what that publish left.
  await bus.ensureTopics(topics.map((name) => ({ name, partitions: options.partitions })));
  const offsets = await Promise.all(
    topics.map(async (topic) => ({ topic, partitions: await bus.offsets(group, topic) })),
  );
  if (offsets.every((t) => t.partitions.every((p) => p.committed === null))) {
    for (const { topic, partitions } of offsets) {
      if (partitions.length > 0)
        await bus.commitOffsets(
          group,
          topic,
          partitions.map((p) => ({ partition: p.partition, offset: p.end })),
        );
    }
    logger.info(
      { group },
      'ingress audit bookmark set at the ends of the deliver topics (first start on this chain)',
    );
    return { scanned: 0, recovered: 0, bookmarkSet: true };
  }

  // What lies past the bookmark now; records published while reading (other replicas') are not waited for.
  const expected = new Map<string, number>();
  for (const topic of topics) {
    for (const l of await bus.lag(group, topic))
      if (l.lag > 0) expected.set(`${topic}\0${l.partition}`, l.lag);
  }
  if (expected.size === 0) return { scanned: 0, recovered: 0, bookmarkSet: false };
  const seen = new Map<string, Set<string>>();
  let scanned = 0;
  let recovered = 0;
  let finish: () => void = () => {};
  const complete = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const isComplete = () => [...expected].every(([p, n]) => (seen.get(p)?.size ?? 0) >= n);
  const subscription = await bus.subscribe({
    group,
    topics: [...new Set([...expected.keys()].map((p) => p.split('\0')[0]!))],
    handler: async (record) => {
      const batch = recoveredEntriesOf(record, chain);
      if (
        batch &&
        !(await options.isAudited(batch.messageIds[0]!)) &&
        (await options.append(batch, record))
      ) {
        recovered++;
        logger.warn(
          {
            messageId: batch.messageIds[0],
            requestId: batch.requestId,
            position: `${record.topic}/${record.partition}/${record.offset}`,
          },
          `audit entries of a published message written from its bus record ${options.occasion ?? 'at start-up (the process stopped between the publish and the audit append)'}`,
        );
      }
      // Counted once it is done: the bookmark is then committed past it.
      const p = `${record.topic}\0${record.partition}`;
      const records = seen.get(p) ?? new Set<string>();
      seen.set(p, records);
      if (!records.has(record.offset)) {
        records.add(record.offset);
        scanned++;
      }
      if (isComplete()) finish();
    },
  });
  let timer: NodeJS.Timeout | undefined;
  const timeoutMs = options.timeoutMs ?? 120_000;
  try {
    await Promise.race([
      complete,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `reading the deliver records past the ingress audit bookmark timed out after ${timeoutMs} ms (${scanned} read)`,
              ),
            ),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await subscription.close();
  }
  logger.info({ group, scanned, recovered }, 'deliver records past the ingress audit bookmark checked');
  return { scanned, recovered, bookmarkSet: false };
}

export interface IngressAuditWatermarkOptions {
  bus: Bus;
  group: string;
  /** The deliver topics now (the directory may name new systems). */
  topics: () => string[];
  inFlight: InFlightPublishes;
  /** Failed publishes that may have landed: the bookmark is held, then the records past it checked. */
  doubts: PublishDoubts;
  /** Reads the records past the bookmark and writes the entries missing (recoverIngressAudit). */
  recheck(): Promise<unknown>;
  /** Between two moves; default 5 s. */
  intervalMs?: number;
  logger: Logger;
}

/** Moves the bookmark while the gateway runs: see the file comment. */
export class IngressAuditWatermark {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private refreshedAt = performance.now();

  constructor(private readonly options: IngressAuditWatermarkOptions) {}

  start(): void {
    this.schedule();
  }

  /**
   * One move: the ends of the topics now, then, once every publish under way has its entries
   * landed or spooled, those ends committed where they moved.
   */
  async advance(): Promise<void> {
    const { bus, group, inFlight, doubts } = this.options;
    if (doubts.count > 0) {
      // Moved past a failed publish that may still land, its record would never be checked.
      if (!doubts.settled) return;
      const covering = doubts.count;
      // A request publishing meanwhile holds its message's id: the check waits for its answer and
      // then finds it accepted (Ingress.appendRecoveredWhileRunning).
      await this.options.recheck();
      doubts.covered(covering);
      return;
    }
    const ends = await Promise.all(
      this.options.topics().map(async (topic) => ({ topic, partitions: await bus.offsets(group, topic) })),
    );
    await inFlight.drain();
    const refresh = performance.now() - this.refreshedAt >= REFRESH_MS;
    if (refresh) this.refreshedAt = performance.now();
    for (const { topic, partitions } of ends) {
      const moved = partitions.filter(
        (p) =>
          p.committed === null || BigInt(p.end) > BigInt(p.committed) || (refresh && p.end === p.committed),
      );
      if (moved.length > 0)
        await bus.commitOffsets(
          group,
          topic,
          moved.map((p) => ({ partition: p.partition, offset: p.end })),
        );
    }
  }

  /**
   * Stops moving it; after a clean stop (no message taken any more), moves it once more. Bounded:
   * a move that waits for a hanging publish is left behind (the bookmark stays where it was).
   */
  async stop(options: { final: boolean }): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.running) await settledWithin(this.running, STOP_WAIT_MS);
    if (options.final) await settledWithin(this.tick(), STOP_WAIT_MS);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = undefined;
        this.schedule();
      });
    }, this.options.intervalMs ?? 5_000);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      await this.advance();
    } catch (err) {
      // The bookmark stays where it was: the next start reads a little more.
      this.options.logger.warn(
        { err, group: this.options.group },
        'could not move the ingress audit bookmark',
      );
    }
  }
}
