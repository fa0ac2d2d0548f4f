/**
 * How long settled case tickets are kept, shared by both MailboxStores. A settled ticket only serves
 * to recognise a copy of its record that shows up again (a bus redelivery, a replayed partition);
 * a week is longer than such copies live (Kafka's default retention is 7 days). Ticket numbers are
 * never reused, so a copy older than that is treated as settled, never as a newer record.
 */
export const SETTLED_TICKET_RETENTION_MS = 8 * 24 * 60 * 60 * 1000;

/** Pruning runs at most this often per store instance (one indexed DELETE). */
const PRUNE_EVERY_MS = 10 * 60 * 1000;

export function shouldPrune(lastPrune: number, now: number): boolean {
  return now - lastPrune >= PRUNE_EVERY_MS;
}
