/**
 * What a callback says: one small JSON object per event of a message the system sent. Ids, type,
 * status and time only — no authorities' names, no content, no personal data.
 *
 *   { "id": "…", "type": "message.acknowledged", "messageId": "…", "messageType": "xmeld:25.11:…",
 *     "status": "acknowledged", "time": "2026-…Z", "receiverSystem": "st-melde" }
 *
 * `id` is derived from (messageId, type), so a receiver can deduplicate events the gateway sent
 * twice (callbacks are at least once). Overdue events add the deadline day.
 */
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
