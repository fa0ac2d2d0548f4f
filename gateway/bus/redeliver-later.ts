/**
 * A record handler that cannot handle a record *yet* (a retry whose not-before time lies ahead)
 * throws RedeliverLater. It is the Bus port's ordinary "handler threw" path — nothing is committed,
 * nothing behind the record in its partition overtakes it — with two refinements the gateway's buses
 * honour: the record is handed again after `delayMs` instead of the subscription's
 * redeliveryDelayMs, and the bus logs it at debug level, since it is a schedule, not a failure.
 * A Bus that does not know it still works: it redelivers after its redeliveryDelayMs.
 */
export class RedeliverLater extends Error {
  readonly delayMs: number;

  constructor(delayMs: number, reason: string) {
    super(reason);
    this.name = 'RedeliverLater';
    this.delayMs = Math.max(0, Math.ceil(delayMs));
  }
}

/** The delay before a record whose handler threw `error` is handed again, and whether that was planned. */
export function redeliveryAfter(error: unknown, fallbackMs: number): { delayMs: number; planned: boolean } {
  if (error instanceof RedeliverLater) return { delayMs: error.delayMs, planned: true };
  return { delayMs: fallbackMs, planned: false };
}
