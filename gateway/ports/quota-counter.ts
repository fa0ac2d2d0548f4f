/**
 * Where the daily message quotas (gateway/http/message-quota.ts) are counted: per connected system
 * and Berlin calendar day, the units reserved by messages that were accepted or are still being
 * processed. In the process (gateway/quota/in-process-quota-counter.ts) when one gateway owns its
 * data directory, or in PostgreSQL (gateway/quota/pg-quota-counter.ts) when several processes share
 * DATABASE_URL: every replica reserves from the same count, so their sum stays within the limit.
 */

/**
 * How many of the system's messages the audit trail shows accepted on `day` (YYYY-MM-DD, Europe/
 * Berlin), counted up to `atMost`: the start of a day the counter has no count of yet (a restart,
 * an upgrade in the middle of the day).
 */
export type AcceptedOnDay = (systemId: string, day: string, atMost: number) => Promise<number>;

export interface QuotaCounter {
  readonly kind: 'in-process' | 'postgres';
  /**
   * Reserves one unit of the system's quota for `day` if fewer than `limit` are used: true, else
   * false (and nothing changes). Never more than `limit` reservations succeed for one system and
   * day, however many callers (across all instances sharing the storage) race for them.
   */
  reserve(systemId: string, day: string, limit: number): Promise<boolean>;
  /** Gives back one unit reserve() took for `day`: that message was not accepted. */
  release(systemId: string, day: string): Promise<void>;
  close(): Promise<void>;
}
