/**
 * Topic naming, one place for every bus implementation (deploy/kafka/README.md documents it):
 *   <prefix>.deliver.<systemId>   signed documents waiting for delivery to that system
 *   <prefix>.retry.<systemId>     documents whose delivery failed for now, waiting for their next attempt
 *   <prefix>.dlq.<systemId>       documents that cannot be delivered (poison or out of attempts), and
 *                                 the markers of the ones an operator replayed
 *   <prefix>.callback.<systemId>        callback events (JSON) for that system, keyed by message id
 *   <prefix>.callback-retry.<systemId>  callback events whose POST failed for now, waiting for their next attempt
 * Consumer groups:
 *   <prefix>.delivery.<systemId>          the delivery workers on the deliver topic
 *   <prefix>.delivery-retry.<systemId>    the delivery workers on the retry topic
 *   <prefix>.dlq-browse.<systemId>.<uuid> one throwaway group per `gw dlq list|replay` that found records
 *   <prefix>.callbacks.<systemId>         the callback senders on the callback topic
 *   <prefix>.callbacks-retry.<systemId>   the callback senders on the callback retry topic
 *   <prefix>.ingress-audit.<chain>        no subscriber: a bookmark on the deliver topics, past which
 *                                         every record that chain's ingress published is audited
 */
export function deliverTopic(prefix: string, systemId: string): string {
  return `${prefix}.deliver.${systemId}`;
}

export function retryTopic(prefix: string, systemId: string): string {
  return `${prefix}.retry.${systemId}`;
}

/**
 * Whether `topic` is `systemId`'s retry topic, whatever the prefix: the name after the prefix is
 * `retry.<systemId>` there and `deliver.<systemId>` on the deliver topic, so the end tells them apart.
 */
export function isRetryTopic(topic: string, systemId: string): boolean {
  return topic.endsWith(`.retry.${systemId}`);
}

export function deadLetterTopic(prefix: string, systemId: string): string {
  return `${prefix}.dlq.${systemId}`;
}

export function deliveryGroup(prefix: string, systemId: string): string {
  return `${prefix}.delivery.${systemId}`;
}

export function retryGroup(prefix: string, systemId: string): string {
  return `${prefix}.delivery-retry.${systemId}`;
}

export function deadLetterBrowseGroup(prefix: string, systemId: string, unique: string): string {
  return `${prefix}.dlq-browse.${systemId}.${unique}`;
}

/** The bookmark group of the ingress appending to `chain` (pipeline/ingress-audit-recovery.ts). */
export function ingressAuditGroup(prefix: string, chain: string): string {
  return `${prefix}.ingress-audit.${chain}`;
}

export function callbackTopic(prefix: string, systemId: string): string {
  return `${prefix}.callback.${systemId}`;
}

export function callbackRetryTopic(prefix: string, systemId: string): string {
  return `${prefix}.callback-retry.${systemId}`;
}

export function callbackGroup(prefix: string, systemId: string): string {
  return `${prefix}.callbacks.${systemId}`;
}

export function callbackRetryGroup(prefix: string, systemId: string): string {
  return `${prefix}.callbacks-retry.${systemId}`;
}

/** Bus record header names; documented for operators reading topics with kcat. */
export const HEADER = {
  messageId: 'gw-message-id',
  messageType: 'gw-message-type',
  standardVersion: 'gw-standard-version',
  sender: 'gw-sender',
  receiver: 'gw-receiver',
  senderSystem: 'gw-sender-system',
  receiverSystem: 'gw-receiver-system',
  digest: 'gw-digest',
  requestId: 'gw-request-id',
  /**
   * On a record the ingress published: the audit chain its entries go to (the publishing process's,
   * GATEWAY_AUDIT_CHAIN), which writes them from the record should it stop before it did
   * (pipeline/ingress-audit-recovery.ts).
   */
  auditChain: 'gw-audit-chain',
  /** With it: the idempotency key of the message's first ingress entry on that chain (the next ones count up). */
  auditKey: 'gw-audit-key',
  /** On a record the ingress converted to another version: the message type as received. */
  receivedType: 'gw-received-type',
  /** On a record whose document the sender signed: the hex SHA-256 of the document as sent, and the signer's serial. */
  senderSignatureDigest: 'gw-sender-signature-digest',
  senderSignerSerial: 'gw-sender-signer-serial',
  traceparent: 'traceparent',
  /** W3C vendor trace state, only beside a traceparent. */
  tracestate: 'tracestate',
  /** Failed delivery attempts so far (decimal); absent on a record that was never attempted. */
  attempts: 'gw-delivery-attempts',
  /** ISO 8601: the retry consumer does not attempt the record before this time. */
  notBefore: 'gw-not-before',
  /** ISO 8601: when the first attempt failed; the age limit counts from here. */
  firstFailedAt: 'gw-first-failed-at',
  /** On a parked record: its case ticket, which keeps the records of one case in order (pipeline/case-order.ts). */
  caseTicket: 'gw-case-ticket',
  /** Why the last attempt failed (metadata only, at most 300 characters). */
  lastError: 'gw-last-error',
  /** Why the record was dead-lettered. */
  deadLetterReason: 'gw-dead-letter-reason',
  /** ISO 8601: when it was dead-lettered. */
  deadLetteredAt: 'gw-dead-lettered-at',
  /** On a replayed deliver record: the dead-letter entry it came from, `<partition>/<offset>`. */
  replayedFrom: 'gw-replayed-from',
  /**
   * How many times the record was replayed from the dead-letter queue (decimal; absent: 0). It
   * stays with the record through retries and dead-lettering, and `replayed` and every entry of the
   * delivery stage record it (detail.replayGeneration, 0 for the first delivery): it orders them by
   * cause where times tie or clocks disagree (audit/message-summary.ts, pipeline/causal-history.ts).
   */
  replayGeneration: 'gw-replay-generation',
  /** On a dead-letter topic record that is a marker rather than a document: `replayed`. */
  deadLetterEvent: 'gw-dlq-event',
  /** On a `replayed` marker: the entry it resolves, `<partition>/<offset>`. */
  deadLetterEntry: 'gw-dlq-entry',
} as const;

/** Headers that describe one delivery history; a replay starts a new one without them. */
export const DELIVERY_HISTORY_HEADERS: readonly string[] = [
  HEADER.attempts,
  HEADER.notBefore,
  HEADER.firstFailedAt,
  HEADER.lastError,
  HEADER.deadLetterReason,
  HEADER.deadLetteredAt,
  HEADER.replayedFrom,
  HEADER.deadLetterEvent,
  HEADER.deadLetterEntry,
];

/** The replay generation of a record (HEADER.replayGeneration); 0 when absent or not a non-negative integer. */
export function replayGenerationOf(headers: Record<string, string>): number {
  const n = Number(headers[HEADER.replayGeneration] ?? 0);
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

/** The failed attempts a record's headers count (HEADER.attempts); 0 when absent or not a positive integer. */
export function failedAttemptsOf(headers: Record<string, string>): number {
  const n = Number(headers[HEADER.attempts] ?? 0);
  return Number.isInteger(n) && n > 0 ? n : 0;
}
