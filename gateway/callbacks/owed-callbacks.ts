/**
 * The entries of one chain whose callbacks may be owed: those that stand for a callback
 * (callback-event.ts, eventOfEntry) in a range of seqs, in the order they happened (a message's
 * delivered before its acknowledged). Read by the catch-up at the start (catch-up.ts) and at the
 * takeover of a chain another process wrote to (chain-takeovers.ts).
 *
 * Both look at a window, not the whole log: the most recent CATCH_UP_WINDOW seqs up to the end of
 * the range (windowStart), one cut-off for every kind, so that what is sent again is the recent
 * past of the chain as a whole — never the oldest entries of a wide range, nor each kind cut at a
 * seq of its own. Callbacks owed before the window are not sent again; the caller warns.
 */
import type { AuditEntry, AuditStore } from '../ports/audit-store.ts';

/** How many entries per chain are looked at: the recent past, not the whole log. */
export const CATCH_UP_WINDOW = 10_000;

/** Where the window of the seqs up to `toSeq` begins. */
export function windowStart(toSeq: number, window: number): number {
  return Math.max(1, toSeq - window + 1);
}

/** The warning of a caller that owed callbacks before the window (`fromSeq`) are not sent again. */
export const OLDER_NOT_SENT = 'callbacks of entries older than the catch-up window are not sent again';

const CALLBACK_KINDS = ['delivered', 'acknowledged', 'failed', 'dead-lettered'] as const;

/** The callback entries from `fromSeq` to `toSeq`, within the window that ends at `toSeq`. */
export async function owedCallbacks(
  store: AuditStore,
  chain: string,
  fromSeq: number,
  toSeq: number,
  window: number,
): Promise<AuditEntry[]> {
  const from = Math.max(fromSeq, windowStart(toSeq, window));
  if (from > toSeq) return [];
  // At most toSeq - from + 1 <= window entries of a kind lie in the range: no limit cuts a kind short.
  const limit = toSeq - from + 1;
  const owed: AuditEntry[] = [];
  for (const kind of CALLBACK_KINDS)
    owed.push(...(await store.query({ chain, kind, fromSeq: from, toSeq, limit })));
  owed.sort((a, b) => a.seq - b.seq);
  return owed;
}
