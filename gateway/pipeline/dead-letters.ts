/**
 * The dead-letter queue of each receiving system, for operators: list what is in it, replay entries
 * to the deliver topic. Built on the Bus port only, so it works the same on the SQLite bus and Kafka.
 *
 * The dead-letter topic is an append-only log of two kinds of records: the dead-lettered documents
 * (with the delivery worker's headers: attempts, reason, time) and `replayed` markers naming the
 * entry (`<partition>/<offset>`) they resolve. Listing reads the whole topic without consuming it
 * (browse.ts) and shows the entries that no marker resolves. Replaying publishes the document to the
 * deliver topic (a fresh delivery history: attempt counters and reasons stripped) together with the
 * marker in one publish call — one transaction on the SQLite bus — then audits `replayed`. A crash
 * between the two leaves the entry listed; replaying it again is harmless, since delivery is
 * deduplicated by nachrichtenUUID. A message that fails again is dead-lettered as a new entry.
 *
 * The republished record is one replay generation past the entry (HEADER.replayGeneration), and
 * `replayed` records that generation, as every delivery entry written for the record does
 * (delivery.ts): the delivery worker may dead-letter the record again within the same millisecond,
 * or before `replayed` is even appended, and the status and its history follow the generations
 * rather than the clock (audit/message-summary.ts, causal-history.ts).
 */
import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/audit-log.ts';
import { browseTopic } from '../bus/browse.ts';
import {
  DELIVERY_HISTORY_HEADERS,
  deadLetterBrowseGroup,
  deadLetterTopic,
  deliverTopic,
  HEADER,
  replayGenerationOf,
} from '../bus/topics.ts';
import type { Bus, BusRecord, ConsumedRecord } from '../ports/bus.ts';

export interface DeadLetterEntry {
  systemId: string;
  messageId: string;
  messageType: string | null;
  senderSystem: string | null;
  /** Failed delivery attempts before it was dead-lettered (0: poison, never attempted). */
  attempts: number;
  reason: string;
  deadLetteredAt: string | null;
  /** Where the entry sits in the dead-letter topic: `<partition>/<offset>`. */
  position: string;
}

interface StoredEntry extends DeadLetterEntry {
  record: ConsumedRecord;
}

/** The replay generation a replay of `entry` starts. */
const nextGeneration = (entry: StoredEntry) => replayGenerationOf(entry.record.headers) + 1;

export interface DeadLetterQueueDeps {
  bus: Bus;
  audit: AuditLog;
  topicPrefix: string;
  /** Audit actor of replays: `cli`, `token:<id>`. */
  actor: string;
  /** How long reading one dead-letter topic may take. Default 30 s. */
  browseTimeoutMs?: number;
}

const REPLAYED = 'replayed';

const positionOf = (r: ConsumedRecord) => `${r.partition}/${r.offset}`;

export class DeadLetterQueue {
  constructor(private readonly deps: DeadLetterQueueDeps) {}

  /** Entries not yet replayed, oldest first per partition. Reads, never consumes. */
  async list(systemId: string): Promise<DeadLetterEntry[]> {
    return (await this.entries(systemId)).map(({ record: _record, ...entry }) => entry);
  }

  /**
   * One entry with its bus headers and the signed document: by position, or the latest entry of a
   * message id. Reads, never consumes. The caller decides whether the document may be shown.
   */
  async show(
    systemId: string,
    select: { position: string } | { messageId: string },
  ): Promise<(DeadLetterEntry & { headers: Record<string, string>; document: Buffer }) | null> {
    const entries = await this.entries(systemId);
    const found =
      'position' in select
        ? entries.find((e) => e.position === select.position)
        : entries.filter((e) => e.messageId === select.messageId).at(-1);
    if (!found) return null;
    const { record, ...entry } = found;
    return { ...entry, headers: { ...record.headers }, document: record.value };
  }

  /**
   * Replays the entries of `messageId` (or all entries) to the deliver topic. Returns what was
   * replayed; empty when nothing matched.
   */
  async replay(systemId: string, select: { messageId: string } | { all: true }): Promise<DeadLetterEntry[]> {
    const { deps } = this;
    const entries = await this.entries(systemId);
    const chosen = 'all' in select ? entries : entries.filter((e) => e.messageId === select.messageId);
    if (chosen.length === 0) return [];
    // One delivery per message, even if it was dead-lettered more than once; one marker per entry.
    const latest = new Map<string, StoredEntry>();
    for (const e of chosen) latest.set(e.messageId, e);
    const records: BusRecord[] = [];
    for (const e of latest.values()) {
      const headers = Object.fromEntries(
        Object.entries(e.record.headers).filter(([name]) => !DELIVERY_HISTORY_HEADERS.includes(name)),
      );
      records.push({
        topic: deliverTopic(deps.topicPrefix, systemId),
        key: e.record.key,
        value: e.record.value,
        headers: {
          ...headers,
          [HEADER.replayedFrom]: e.position,
          [HEADER.replayGeneration]: String(nextGeneration(e)),
        },
      });
    }
    for (const e of chosen) {
      records.push({
        topic: deadLetterTopic(deps.topicPrefix, systemId),
        key: e.record.key,
        value: Buffer.alloc(0),
        headers: {
          [HEADER.deadLetterEvent]: REPLAYED,
          [HEADER.deadLetterEntry]: e.position,
          [HEADER.messageId]: e.messageId,
        },
      });
    }
    await deps.bus.publish(records);
    await deps.audit.recordMany(
      [...latest.values()].map((e) => ({
        kind: 'replayed' as const,
        actor: deps.actor,
        messageId: e.messageId,
        receiverSystem: systemId,
        senderSystem: e.senderSystem,
        messageType: e.messageType,
        detail: {
          from: 'dead-letter',
          position: e.position,
          attempts: e.attempts,
          replayGeneration: nextGeneration(e),
        },
      })),
    );
    return chosen.map(({ record: _record, ...entry }) => entry);
  }

  private async entries(systemId: string): Promise<StoredEntry[]> {
    const { deps } = this;
    const topic = deadLetterTopic(deps.topicPrefix, systemId);
    // The delivery worker creates it with one partition; an operator tool must not pick another count.
    await deps.bus.ensureTopics([{ name: topic, partitions: 1 }]);
    const records = await browseTopic(deps.bus, {
      topic,
      group: deadLetterBrowseGroup(deps.topicPrefix, systemId, randomUUID()),
      timeoutMs: deps.browseTimeoutMs ?? 30_000,
    });
    const replayed = new Set(
      records
        .filter((r) => r.headers[HEADER.deadLetterEvent] === REPLAYED)
        .map((r) => r.headers[HEADER.deadLetterEntry]),
    );
    const open: StoredEntry[] = [];
    for (const record of records) {
      const h = record.headers;
      if (h[HEADER.deadLetterEvent] !== undefined || replayed.has(positionOf(record))) continue;
      const attempts = Number(h[HEADER.attempts] ?? 0);
      open.push({
        systemId,
        messageId: h[HEADER.messageId] ?? '',
        messageType: h[HEADER.messageType] ?? null,
        senderSystem: h[HEADER.senderSystem] ?? null,
        attempts: Number.isInteger(attempts) ? attempts : 0,
        reason: h[HEADER.deadLetterReason] ?? '',
        deadLetteredAt: h[HEADER.deadLetteredAt] ?? null,
        position: positionOf(record),
        record,
      });
    }
    return open;
  }
}
