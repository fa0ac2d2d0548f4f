/**
 * The entries of one chain whose callbacks may be owed: those that stand for a callback
 * (callback-event.ts, eventOfEntry) in a range of seqs (open-ended without `toSeq`), in the order they happened (a message's
 * delivered before its acknowledged). Read by the catch-up at the start (catch-up.ts) and at the
 * takeover of a chain another process wrote to (chain-takeovers.ts).
 */
import type { AuditEntry, AuditStore } from '../ports/audit-store.ts';

/** How many entries per chain are looked at: the recent past, not the whole log. */
export const CATCH_UP_WINDOW = 10_000;

const CALLBACK_KINDS = ['delivered', 'acknowledged', 'failed', 'dead-lettered'] as const;

export async function owedCallbacks(
  store: AuditStore,
  chain: string,
  fromSeq: number,
  toSeq: number | undefined,
  limit: number,
): Promise<AuditEntry[]> {
  const owed: AuditEntry[] = [];
  for (const kind of CALLBACK_KINDS)
    owed.push(
      ...(await store.query({ chain, kind, fromSeq, limit, ...(toSeq !== undefined ? { toSeq } : {}) })),
    );
  owed.sort((a, b) => a.seq - b.seq);
  return owed;
}
