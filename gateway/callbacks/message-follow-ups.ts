/**
 * What follows a message's lifecycle events, wired in one place: receipts to the sender on
 * acknowledgement, signed callbacks to the sender on delivered / acknowledged / failed /
 * dead-lettered / overdue, and the answer deadlines. All three listen to the audit log
 * (notifying-audit-log.ts), so no pipeline stage calls them and none of them can block a stage.
 * Callbacks travel over the bus (callback-dispatcher.ts): the composition root subscribes their
 * senders with `callbacks.start()` once the bus is up and calls `callbacks.sync()` after a reload.
 * Every entry passes the callback watermarks (callback-watermarks.ts), so that the callbacks a
 * crash left unpublished are handed over again at the next start (catch-up.ts): at least once.
 * Until that catch-up has covered a chain, the listener's callbacks of the chain wait for it, so
 * that neither hands over what the other did (catch-up-gate.ts).
 */

import { OverdueWatcher } from '../deadlines/overdue-watcher.ts';
import type { Contracts } from '../directory/contracts.ts';
import type { Directory } from '../directory/directory.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { DocumentSealer } from '../pipeline/ingress.ts';
import type { AuditEntry } from '../ports/audit-store.ts';
import type { Bus } from '../ports/bus.ts';
import type { OverdueCaseStore } from '../ports/overdue-case-store.ts';
import type { ReceiptArchive } from '../receipts/receipt-archive.ts';
import type { ReceiptInbox } from '../receipts/receipt-inbox.ts';
import { ReceiptIssuer } from '../receipts/receipt-issuer.ts';
import { isReceiptType } from '../receipts/receipt-type.ts';
import { CallbackDispatcher, type CallbackRetryPolicy } from './callback-dispatcher.ts';
import { eventOfEntry } from './callback-event.ts';
import type { CallbackWatermarkStore } from './callback-watermark-store.ts';
import { CallbackWatermarks } from './callback-watermarks.ts';
import { catchUpFollowUps } from './catch-up.ts';
import { CatchUpGate } from './catch-up-gate.ts';
import { catchUpUntilDone } from './catch-up-retry.ts';
import { ChainTakeovers } from './chain-takeovers.ts';
import type { NotifyingAuditLog } from './notifying-audit-log.ts';

/**
 * How soon the callback watermarks are written and a taken-over chain's gap is replayed; each one
 * left out is the production default. Tests pass short ones: the waits of the replay and race
 * suites follow from them.
 */
export interface CallbackTimings {
  /** How long a watermark must have been clear before it is written (CallbackWatermarksOptions.settleMs, 1 s). */
  watermarkSettleMs?: number;
  /** Least time between two watermark writes (CallbackWatermarksOptions.intervalMs, 100 ms). */
  watermarkIntervalMs?: number;
  /** How long the replay of a gap waits (ChainTakeovers, twice the marks' lag: settle plus interval). */
  replayDelayMs?: number;
}

export interface MessageFollowUpsDeps {
  audit: NotifyingAuditLog;
  directory: () => Directory;
  contracts: () => Contracts;
  contractsDir: string;
  /** The answer cases (SQLite in the data dir, or PostgreSQL with DATABASE_URL); closed on stop(). */
  overdueCases: OverdueCaseStore;
  /** Where the callback watermarks live (callback-watermark-store.ts); closed on stop(). */
  callbackWatermarks: CallbackWatermarkStore;
  sealer: DocumentSealer;
  /** Where receipts for pull senders go without the bus (receipts/receipt-inbox.ts). */
  receiptInbox?: ReceiptInbox;
  /** Where receipts for the bus are archived before their publish (receipts/receipt-archive.ts). */
  receiptArchive?: ReceiptArchive;
  bus: Bus;
  topicPrefix: string;
  /** The gateway's client certificate and trusted CAs (callbacks authenticate like push). */
  tls: { certPem: string; keyPem: string; caPems: string[] };
  timeoutMs: number;
  metrics: Metrics;
  logger: Logger;
  now?: () => Date;
  callbackRetry?: CallbackRetryPolicy;
  callbackTimings?: CallbackTimings;
  overdueIntervalMs?: number;
}

export interface MessageFollowUps {
  receipts: ReceiptIssuer;
  callbacks: CallbackDispatcher;
  callbackWatermarks: CallbackWatermarks;
  overdue: OverdueWatcher;
  /** Resolves when the catch-up after the start is done (tests). */
  caughtUp: Promise<void>;
  stop(): Promise<void>;
}

export function startMessageFollowUps(deps: MessageFollowUpsDeps): MessageFollowUps {
  const logger = deps.logger.child({ component: 'follow-ups' });
  const callbacks = new CallbackDispatcher({
    bus: deps.bus,
    topicPrefix: deps.topicPrefix,
    directory: deps.directory,
    contractsDir: deps.contractsDir,
    tls: deps.tls,
    timeoutMs: deps.timeoutMs,
    logger,
    count: (outcome) => deps.metrics.callbacks.inc({ outcome }),
    ...(deps.callbackRetry ? { retry: deps.callbackRetry } : {}),
  });
  const receipts = new ReceiptIssuer({
    directory: deps.directory,
    sealer: deps.sealer,
    bus: deps.bus,
    audit: deps.audit,
    topicPrefix: deps.topicPrefix,
    logger,
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.receiptInbox ? { inbox: deps.receiptInbox } : {}),
    ...(deps.receiptArchive ? { archive: deps.receiptArchive } : {}),
  });
  const overdue = new OverdueWatcher({
    store: deps.overdueCases,
    directory: deps.directory,
    contracts: deps.contracts,
    callbacks,
    report: (perSystem) => {
      for (const [system, n] of perSystem) deps.metrics.overdueAnswers.set({ system }, n);
    },
    logger,
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.overdueIntervalMs !== undefined ? { intervalMs: deps.overdueIntervalMs } : {}),
  });
  deps.metrics.onScrape(async () => {
    await overdue.check();
  });

  const timings = deps.callbackTimings ?? {};
  const callbackWatermarks = new CallbackWatermarks({
    store: deps.callbackWatermarks,
    logger,
    ...(timings.watermarkSettleMs !== undefined ? { settleMs: timings.watermarkSettleMs } : {}),
    ...(timings.watermarkIntervalMs !== undefined ? { intervalMs: timings.watermarkIntervalMs } : {}),
  });
  const handOver = (entry: AuditEntry) => {
    // Receipts are the gateway's own messages: their lifecycle is not reported back to anyone.
    // The event (a UUIDv5 per entry) is built only for a sender that registered a callback.
    const callback =
      entry.senderSystem && callbacks.wants(entry.senderSystem) && !isReceiptType(entry.messageType)
        ? eventOfEntry(entry)
        : undefined;
    if (callback)
      callbackWatermarks.publishing(
        entry.chain,
        entry.seq,
        callbacks.queue(callback.systemId, callback.event),
      );
    else callbackWatermarks.passed(entry.chain, entry.seq);
  };

  // A chain another process wrote to before this one appends to it: its callbacks after the stored mark are handed over again.
  const takeovers = new ChainTakeovers({
    store: deps.audit.store,
    watermarks: callbackWatermarks,
    handOver,
    logger,
    ...(timings.replayDelayMs !== undefined ? { replayDelayMs: timings.replayDelayMs } : {}),
  });

  // A chain's callbacks from the listener wait until the catch-up covered the chain: else it
  // hands over again what the listener did (catch-up-gate.ts).
  const gate = new CatchUpGate({
    pass: (entry) => {
      takeovers.appended(entry);
      handOver(entry);
    },
    logger,
  });

  let stopped = false;
  deps.audit.onEntry((entry) => {
    if (stopped) return;
    overdue.observe(entry);
    void receipts.issueFor(entry);
    gate.admit(entry);
  });
  overdue.start();
  // What a stopped process left undone (catch-up.ts); in the background, it never delays the start,
  // and a failed one is tried again (catch-up-retry.ts).
  const catchingUp = catchUpUntilDone(
    () =>
      catchUpFollowUps({
        store: deps.audit.store,
        receipts,
        overdue,
        callbacks: {
          watermarks: callbackWatermarks,
          handOver,
          caughtUp: (chain, seq, handedFrom) => {
            takeovers.caughtUp(chain, seq);
            gate.caughtUp(chain, handedFrom, seq);
          },
          alreadyCaughtUp: (chain) => gate.isCovered(chain),
          allCaughtUp: () => gate.openAll(),
        },
        logger,
      }),
    { logger },
  );
  const caughtUp = catchingUp.done;

  return {
    receipts,
    callbacks,
    callbackWatermarks,
    overdue,
    caughtUp: caughtUp.then(() => undefined),
    async stop() {
      stopped = true;
      catchingUp.stop();
      await caughtUp;
      await takeovers.idle();
      await receipts.idle();
      // The watcher first: a reminder it marks as sent while stopping still reaches the bus.
      await overdue.stop();
      await callbacks.stop();
      // After the dispatcher: every publish handed over has resolved, the exact marks are written.
      await callbackWatermarks.stop();
    },
  };
}
