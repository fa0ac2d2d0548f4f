/**
 * Catching up after a restart: the follow-ups react to audit entries as they are appended, so a
 * process that stopped (or crashed) between an append and its follow-up would lose the follow-up.
 * At start, the recent entries of every chain are handed once more to the idempotent follow-ups —
 * receipts (an `acknowledged` without its receipt gets it; one that has it is skipped) and answer
 * deadlines (`delivered` opens a case once, `accepted` closes it once). Callbacks are not replayed:
 * their listener publishes them to the bus right after the append, where they wait until sent or
 * given up across restarts (callback-dispatcher.ts); replaying the window would send every recent
 * event again for the few a crash in that instant lost.
 */
import type { OverdueWatcher } from '../deadlines/overdue-watcher.ts';
import type { Logger } from '../log/logger.ts';
import type { AuditEventKind, AuditStore } from '../ports/audit-store.ts';
import type { ReceiptIssuer } from '../receipts/receipt-issuer.ts';

/** How many entries per chain are looked at: the recent past, not the whole log. */
export const CATCH_UP_WINDOW = 10_000;

export async function catchUpFollowUps(deps: {
  store: AuditStore;
  receipts: ReceiptIssuer;
  overdue: OverdueWatcher;
  logger: Logger;
  window?: number;
}): Promise<{ receipts: number; deadlineEvents: number }> {
  const window = deps.window ?? CATCH_UP_WINDOW;
  let receipts = 0;
  let deadlineEvents = 0;
  for (const head of await deps.store.heads()) {
    const fromSeq = Math.max(1, head.seq - window + 1);
    const recent = (kind: AuditEventKind) =>
      deps.store.query({ chain: head.chain, kind, fromSeq, toSeq: head.seq, limit: window });
    // Deliveries before answers, so that an answer finds its case (the store copes either way).
    for (const kind of ['delivered', 'accepted'] as const) {
      for (const entry of await recent(kind)) {
        deps.overdue.observe(entry);
        deadlineEvents++;
      }
    }
    for (const entry of await recent('acknowledged')) {
      if ((await deps.receipts.issueFor(entry)).issued) receipts++;
    }
  }
  await deps.overdue.idle();
  if (receipts > 0) deps.logger.warn({ receipts }, 'caught up on receipts not issued before the restart');
  return { receipts, deadlineEvents };
}
