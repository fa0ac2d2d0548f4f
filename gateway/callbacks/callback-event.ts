/**
 * What a callback says: one small JSON object per event of a message the system sent. Ids, type,
 * status and time only — no authorities' names, no content, no personal data.
 *
 *   { "id": "…", "type": "message.acknowledged", "messageId": "…", "messageType": "xmeld:25.11:…",
 *     "status": "acknowledged", "time": "2026-…Z", "receiverSystem": "st-melde" }
 *
 * Besides these, each on its own status only: `replayGeneration` on `dead-lettered` (0: the
 * original delivery, n: the n-th replay of the dead-lettered message by an operator; absent on
 * entries written before generations existed), `requestId` on `failed` (the request that failed,
 * as in the requestId of its 5xx problem answer), `deadline` on `overdue` (the last day on which
 * an answer was in time).
 *
 * `id` names one occurrence of a status of a message, so a receiver can deduplicate events the
 * gateway sent twice (callbacks are at least once: a retry whose 2xx was lost, or the catch-up after
 * a restart sending again what lies after the callback watermark, catch-up.ts) and never drops a
 * real one. It is UUIDv5 of the message id and status — all a status that happens once per message
 * needs: `delivered`, `acknowledged`, `overdue` (one answer case per message, reminded once; a repeat
 * carries the case's stored deadline) — and, for the statuses that legitimately recur, of what tells
 * the occurrences apart: a message dead-lettered, replayed and dead-lettered again has one
 * `dead-lettered` per replay generation, a resent message one `failed` per failed request. Generation
 * 0 (or none recorded) keeps the plain id, so a first dead-letter has the id it always had. Every
 * input of the id is read from the audit entry (eventOfEntry): the entry the live listener gets and
 * the same entry read back from either store for a catch-up (its detail is the hashed JSON text,
 * parsed) yield the same id.
 */
import { z } from 'zod';
import { recordedReplayGeneration } from '../audit/message-summary.ts';
import type { AuditEntry } from '../ports/audit-store.ts';
import { uuidV5 } from '../receipts/receipt-id.ts';

export const CALLBACK_STATUSES = ['delivered', 'acknowledged', 'failed', 'dead-lettered', 'overdue'] as const;
export type CallbackStatus = (typeof CALLBACK_STATUSES)[number];

export interface CallbackEvent {
  id: string;
  type: `message.${CallbackStatus}`;
  messageId: string;
  messageType: string | null;
  status: CallbackStatus;
  /** When it happened (ISO 8601 UTC). */
  time: string;
  receiverSystem: string | null;
  /** Overdue events: the last day (YYYY-MM-DD) on which the answer was in time. */
  deadline?: string;
  /** Dead-lettered events: the replay generation that was dead-lettered (0: the original delivery). */
  replayGeneration?: number;
  /** Failed events: the id of the request that failed. */
  requestId?: string;
}

const EVENT_NAMESPACE = 'b0e6f1a4-3c2d-4e5f-8a9b-7c6d5e4f3a21';

/** The longest request id an event carries (the gateway's are UUIDs). */
const REQUEST_ID_MAX = 200;

/** The optional fields, each allowed on one status only. */
const OWN_STATUS = { deadline: 'overdue', replayGeneration: 'dead-lettered', requestId: 'failed' } as const;

/** The name an event's id is derived from: message id and status, and the occurrence where one recurs. */
function eventName(fields: Omit<CallbackEvent, 'id' | 'type'>): string {
  const { messageId, status } = fields;
  // A JSON array never ends like the plain `<messageId>/<status>`: no occurrence can take a plain id.
  if (fields.replayGeneration !== undefined && fields.replayGeneration > 0)
    return JSON.stringify([messageId, status, fields.replayGeneration]);
  if (fields.requestId !== undefined) return JSON.stringify([messageId, status, fields.requestId]);
  return `${messageId}/${status}`;
}

export function callbackEvent(fields: Omit<CallbackEvent, 'id' | 'type'>): CallbackEvent {
  return {
    id: uuidV5(EVENT_NAMESPACE, eventName(fields)),
    type: `message.${fields.status}`,
    ...fields,
  };
}

/** A callback event as the dispatcher reads it back from the bus: exactly the fields above. */
const CallbackEventRecord = z.strictObject({
  id: z.string(),
  type: z.string(),
  messageId: z.string().min(1).max(200),
  messageType: z.string().max(200).nullable(),
  status: z.enum(CALLBACK_STATUSES),
  time: z.iso.datetime(),
  receiverSystem: z.string().max(100).nullable(),
  deadline: z.iso.date().optional(),
  replayGeneration: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  requestId: z.string().min(1).max(REQUEST_ID_MAX).optional(),
});

/**
 * The event a bus record holds, or undefined. Checked before it is signed with a system's secret
 * and sent: the bus is not inside any signature, and what the gateway signs for a system must be
 * an event the gateway could have built (its id and type follow from its other fields, each
 * optional field only on its own status).
 */
export function parseCallbackEvent(value: Buffer): CallbackEvent | undefined {
  let json: unknown;
  try {
    json = JSON.parse(value.toString('utf8'));
  } catch {
    return undefined;
  }
  const parsed = CallbackEventRecord.safeParse(json);
  if (!parsed.success) return undefined;
  const { id, type, ...fields } = parsed.data;
  for (const [field, status] of Object.entries(OWN_STATUS))
    if (fields[field as keyof typeof OWN_STATUS] !== undefined && fields.status !== status) return undefined;
  const expected = callbackEvent(fields);
  return id === expected.id && type === expected.type ? expected : undefined;
}

const BY_KIND: Partial<Record<AuditEntry['kind'], CallbackStatus>> = {
  delivered: 'delivered',
  acknowledged: 'acknowledged',
  failed: 'failed',
  'dead-lettered': 'dead-lettered',
};

/** The callback event an audit entry stands for, and the system that sent the message; or undefined. */
export function eventOfEntry(entry: AuditEntry): { systemId: string; event: CallbackEvent } | undefined {
  const status = BY_KIND[entry.kind];
  if (!status || !entry.messageId || !entry.senderSystem) return undefined;
  const fields: Omit<CallbackEvent, 'id' | 'type'> = {
    messageId: entry.messageId,
    messageType: entry.messageType,
    status,
    time: entry.time,
    receiverSystem: entry.receiverSystem,
  };
  if (status === 'dead-lettered') {
    const generation = recordedReplayGeneration(entry);
    if (generation !== null) fields.replayGeneration = generation;
  } else if (status === 'failed') {
    // auditFailure (audit/rejections.ts) records the request; one the event could not carry is left out.
    const requestId = entry.detail.requestId;
    if (typeof requestId === 'string' && requestId.length > 0 && requestId.length <= REQUEST_ID_MAX)
      fields.requestId = requestId;
  }
  return { systemId: entry.senderSystem, event: callbackEvent(fields) };
}
