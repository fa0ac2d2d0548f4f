/**
 * How an audit entry is stored as a row, for both AuditStores (sqlite-audit-store.ts,
 * pg-audit-store.ts; the tables: their SCHEMA and deploy/sql/001_audit.sql): the column order of an
 * insert, the select list that reads a row back under the AuditEntry field names, and the mapping
 * both ways. `detail` is stored as the JSON text that was hashed (normalizeEventInput), so what is
 * read back hashes to the stored hash. Likewise a signed checkpoint: stored as its signing input
 * (the body that was signed) and signature, read back through checkpointFromStored.
 */
import type { AuditCheckpoint, AuditEntry, AuditEventInput } from '../ports/audit-store.ts';
import { checkpointFromStored, checkpointHash } from './checkpoint.ts';
import { normalizeEventInput } from './hash-chain.ts';
import { checkpointSigningInput } from './verify-proof.ts';

/** The columns of an entry insert, in the order of entryRow(). */
export const ENTRY_INSERT_COLUMNS = [
  'chain',
  'seq',
  'time',
  'kind',
  'actor',
  'message_id',
  'sender',
  'receiver',
  'sender_system',
  'receiver_system',
  'message_type',
  'digest',
  'detail',
  'prev_hash',
  'hash',
  'idempotency_key',
] as const;

/** The select list of an entry row under AuditEntry's names (quoted aliases: both SQL dialects keep their case). */
export const ENTRY_SELECT_COLUMNS = `chain, seq, time, kind, actor, message_id AS "messageId", sender, receiver,
  sender_system AS "senderSystem", receiver_system AS "receiverSystem", message_type AS "messageType",
  digest, detail, prev_hash AS "prevHash", hash`;

/** An entry row as selected with ENTRY_SELECT_COLUMNS: `detail` still JSON text. */
export type EntryRow = Omit<AuditEntry, 'detail'> & { detail: string | Record<string, unknown> };

/** The entry of a selected row (the row object is reused). */
export function toEntry(row: EntryRow): AuditEntry {
  row.detail = JSON.parse(row.detail as string) as Record<string, unknown>;
  return row as AuditEntry;
}

/** The insert values of a linked entry, in ENTRY_INSERT_COLUMNS order. */
export function entryRow(
  entry: AuditEntry,
  detailJson: string,
  idempotencyKey: string | null,
): (string | number | null)[] {
  return [
    entry.chain,
    entry.seq,
    entry.time,
    entry.kind,
    entry.actor,
    entry.messageId,
    entry.sender,
    entry.receiver,
    entry.senderSystem,
    entry.receiverSystem,
    entry.messageType,
    entry.digest,
    detailJson,
    entry.prevHash,
    entry.hash,
    idempotencyKey,
  ];
}

/** The map key of an idempotency key within its chain (keys are unique per chain only). */
export function scopedKey(chain: string, idempotencyKey: string): string {
  return `${chain}\u0000${idempotencyKey}`;
}

/** An append() waiting for its group commit: normalised events, their detail JSON and keys. */
export interface PendingAppend {
  chain: string;
  events: AuditEventInput[];
  detailJson: string[];
  keys: (string | null)[];
  resolve: (entries: AuditEntry[]) => void;
  reject: (err: unknown) => void;
}

/**
 * The batch an append() queues: every event normalised (normalizeEventInput), or a TypeError for
 * the first malformed one (or one `check` refuses); nothing is queued then.
 */
export function pendingEvents(
  events: AuditEventInput[],
  chain: string,
  check?: (event: AuditEventInput, chain: string, idempotencyKey: string | null) => void,
): Omit<PendingAppend, 'resolve' | 'reject'> {
  if (typeof chain !== 'string' || chain === '')
    throw new TypeError('audit chain must be a non-empty string');
  const normalized: AuditEventInput[] = [];
  const detailJson: string[] = [];
  const keys: (string | null)[] = [];
  for (const event of events) {
    const n = normalizeEventInput(event);
    check?.(n.event, chain, n.idempotencyKey);
    normalized.push(n.event);
    detailJson.push(n.detailJson);
    keys.push(n.idempotencyKey);
  }
  return { chain, events: normalized, detailJson, keys };
}

/** The columns of a checkpoint insert, in the order of checkpointRow(). */
export const CHECKPOINT_INSERT_COLUMNS = 'id, time, hash, body, signature';

/** The insert values of a signed checkpoint: the body stored is exactly the signed bytes. */
export function checkpointRow(checkpoint: AuditCheckpoint): (string | number)[] {
  return [
    checkpoint.id,
    checkpoint.time,
    checkpointHash(checkpoint),
    checkpointSigningInput(checkpoint),
    checkpoint.signature,
  ];
}

/** A checkpoint row as selected (`SELECT body, signature`). */
export interface CheckpointRow {
  body: string;
  signature: string;
}

export function toCheckpoint(row: CheckpointRow): AuditCheckpoint {
  return checkpointFromStored(row.body, row.signature);
}
