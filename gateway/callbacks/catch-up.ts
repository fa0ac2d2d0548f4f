/**
 * Catching up after a restart: the follow-ups react to audit entries as they are appended, so a
 * process that stopped (or crashed) between an append and its follow-up would lose the follow-up.
 * At start, the recent entries of every chain are handed once more to the idempotent follow-ups —
 * receipts (an `acknowledged` without its receipt gets it; one that has it is skipped) and answer
 * deadlines (`delivered` opens a case once, `accepted` closes it once).
 *
 * Callbacks are handed over again only for the entries after their chain's callback watermark
 * (callback-watermarks.ts: up to there every callback is on the bus), within the same window; not
 * the whole window, which would send every recent event again for the few a crash lost. A replayed
 * callback whose publish had in fact succeeded is on the bus twice with the same event id (built
 * from the entry alone, callback-event.ts): at least once, the receiver drops the duplicate. A fresh
 * deployment (no watermarks kept yet) owes nothing: its watermarks start at the current heads.
 *
 * Tried again until it succeeds (catch-up-retry.ts): a chain an earlier attempt caught up is not
 * handed over again (its appends since went their way, catch-up-gate.ts), its receipts and
 * deadlines are (idempotent).
 */
import type { OverdueWatcher } from '../deadlines/overdue-watcher.ts';
import type { Logger } from '../log/logger.ts';
import type { AuditEntry, AuditEventKind, AuditStore } from '../ports/audit-store.ts';
import type { ReceiptIssuer } from '../receipts/receipt-issuer.ts';
import type { CallbackWatermarks } from './callback-watermarks.ts';
import { CATCH_UP_WINDOW, OLDER_NOT_SENT, owedCallbacks, windowStart } from './owed-callbacks.ts';

export interface CallbackCatchUp {
  watermarks: CallbackWatermarks;
  /** Hands one entry to the callbacks, as the audit listener does. */
  handOver: (entry: AuditEntry) => void;
  /**
   * Told that every callback owed on `chain` up to `seq` was handed over, those from `handedFrom`
   * on by this catch-up itself (chain-takeovers.ts, catch-up-gate.ts).
   */
  caughtUp?: (chain: string, seq: number, handedFrom: number) => void;
  /** Whether an earlier, failed attempt caught `chain` up already: its callbacks are not handed over again. */
  alreadyCaughtUp?: (chain: string) => boolean;
  /** Told once every chain is caught up, before the watermarks are released. */
  allCaughtUp?: () => void;
}

export async function catchUpFollowUps(deps: {
  store: AuditStore;
  receipts: ReceiptIssuer;
  overdue: OverdueWatcher;
  callbacks?: CallbackCatchUp;
  logger: Logger;
  window?: number;
}): Promise<{ receipts: number; deadlineEvents: number; callbacks: number }> {
  const window = deps.window ?? CATCH_UP_WINDOW;
  let receipts = 0;
  let deadlineEvents = 0;
  let callbacks = 0;
  const heads = await deps.store.heads();
  const owedAfter = await deps.callbacks?.watermarks.startingPoints(heads);
  for (const head of heads) {
    const fromSeq = windowStart(head.seq, window);
    const recent = (kind: AuditEventKind, from = fromSeq) =>
      deps.store.query({ chain: head.chain, kind, fromSeq: from, toSeq: head.seq, limit: window });
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
    if (deps.callbacks && owedAfter && !deps.callbacks.alreadyCaughtUp?.(head.chain)) {
      const watermark = owedAfter.get(head.chain) ?? 0;
      if (watermark < fromSeq - 1) {
        deps.logger.warn({ chain: head.chain, watermark, fromSeq }, OLDER_NOT_SENT);
      }
      const from = Math.max(fromSeq, watermark + 1);
      if (from <= head.seq) {
        const owed = await owedCallbacks(deps.store, head.chain, from, head.seq, window);
        for (const entry of owed) deps.callbacks.handOver(entry);
        callbacks += owed.length;
      }
      deps.callbacks.watermarks.passed(head.chain, head.seq);
      deps.callbacks.caughtUp?.(head.chain, head.seq, from);
    }
  }
  deps.callbacks?.allCaughtUp?.();
  deps.callbacks?.watermarks.release();
  await deps.overdue.idle();
  if (receipts > 0) deps.logger.warn({ receipts }, 'caught up on receipts not issued before the restart');
  if (callbacks > 0)
    deps.logger.warn({ callbacks }, 'handed callbacks after the watermarks to the dispatcher again');
  return { receipts, deadlineEvents, callbacks };
}
