/**
 * Topic naming, one place for every bus implementation:
 *   <prefix>.deliver.<systemId>   signed documents waiting for delivery to that system
 *   <prefix>.dlq.<systemId>       documents that cannot be delivered (poison or out of attempts)
 * Consumer groups are named <prefix>.delivery.<systemId>.
 */
export function deliverTopic(prefix: string, systemId: string): string {
  return `${prefix}.deliver.${systemId}`;
}

export function deadLetterTopic(prefix: string, systemId: string): string {
  return `${prefix}.dlq.${systemId}`;
}

export function deliveryGroup(prefix: string, systemId: string): string {
  return `${prefix}.delivery.${systemId}`;
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
  traceparent: 'traceparent',
} as const;
