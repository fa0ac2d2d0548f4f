/**
 * What a callback says: one small JSON object per event of a message the system sent. Ids, type,
 * status and time only — no authorities' names, no content, no personal data.
 *
 *   { "id": "…", "type": "message.acknowledged", "messageId": "…", "messageType": "xmeld:25.11:…",
 *     "status": "acknowledged", "time": "2026-…Z", "receiverSystem": "st-melde" }
 *
 * `id` is derived from (messageId, type), so a receiver can deduplicate events the gateway sent
 * twice (callbacks are at least once: a retry whose 2xx was lost, or the catch-up after a restart
 * sending again what lies after the callback watermark, catch-up.ts). Overdue events add the
 * deadline day.
 */
import { z } from 'zod';
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
}

const EVENT_NAMESPACE = 'b0e6f1a4-3c2d-4e5f-8a9b-7c6d5e4f3a21';

export function callbackEvent(fields: Omit<CallbackEvent, 'id' | 'type'>): CallbackEvent {
  return {
    id: uuidV5(EVENT_NAMESPACE, `${fields.messageId}/${fields.status}`),
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
});

/**
 * The event a bus record holds, or undefined. Checked before it is signed with a system's secret
 * and sent: the bus is not inside any signature, and what the gateway signs for a system must be
 * an event the gateway could have built (its id and type follow from message id and status).
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
  return {
    systemId: entry.senderSystem,
    event: callbackEvent({
      messageId: entry.messageId,
      messageType: entry.messageType,
      status,
      time: entry.time,
      receiverSystem: entry.receiverSystem,
    }),
  };
}
