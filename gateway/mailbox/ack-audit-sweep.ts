/**
 * Closes the gap a pull ack can leave in the audit trail: the ack commits in the mailbox before its
 * `acknowledged` entry is appended (gateway/http/routes/inbox.ts), and when that append fails, or the
 * process dies in between, only a resend of the ack by the receiver would write the entry — and
 * with it set off the sender's receipt. A receiver that took the error for a success never resends.
 *
 * The route marks an ack audited once its entry is written; this sweep takes the acks without the
 * mark that are older than a grace period (so an append still under way is not overtaken), writes
 * the entry where the trail lacks it through the same keyed repair as the resend (pull-ack-audit.ts:
 * one key on one chain all replicas share, so a resend, the sweep and any replica write it once),
 * and marks them. Replicas split the work by the mailbox's claims; a claim that ends (its replica
 * failed or died) hands the item to the next tick of any replica.
 */
import { Counter, type Registry } from 'prom-client';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Logger } from '../log/logger.ts';
import type { InboxItem, MailboxStore } from '../ports/mailbox-store.ts';
import { ACK_REPAIR_CHAIN, auditAckIfMissing } from './pull-ack-audit.ts';

/** Items per tick: the backlog of rows acked before the mark existed is worked off this many at a time. */
const DEFAULT_BATCH = 500;
/** Failures in a row that end a tick: the audit store is refusing, and each one may wait its busy timeout. */
const FAILURES_PER_TICK = 3;

export interface AckAuditSweepOptions {
  mailbox: MailboxStore;
  /** The log the repairs go through (its listeners send the receipt); written on ACK_REPAIR_CHAIN. */
  audit: AuditLog;
  everyMs: number;
  graceMs: number;
  batch?: number;
  registry: Registry;
  logger: Logger;
  now?: () => Date;
}

export interface AckAuditSweepRun {
  /** Items claimed in this run. */
  claimed: number;
  /** `acknowledged` entries written (or found under their key: a racing repair wrote it). */
  written: number;
  failed: number;
}

export class AckAuditSweep {
  private readonly repairs: AuditLog;
  private readonly now: () => Date;
  private readonly batch: number;
  private readonly errors: Counter;
  private readonly repaired: Counter;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<AckAuditSweepRun> | undefined;
  private stopped = false;

  constructor(private readonly options: AckAuditSweepOptions) {
    this.repairs = options.audit.withChain(ACK_REPAIR_CHAIN);
    this.now = options.now ?? (() => new Date());
    this.batch = options.batch ?? DEFAULT_BATCH;
    this.errors = new Counter({
      name: 'gateway_inbox_ack_audit_sweep_errors_total',
      help: 'Pull acks the ack audit sweep failed to confirm or repair (retried when their claim ends), and failed sweep queries',
      registers: [options.registry],
    });
    this.repaired = new Counter({
      name: 'gateway_inbox_ack_audit_repaired_total',
      help: 'Missing `acknowledged` audit entries of pull acks written by the ack audit sweep',
      registers: [options.registry],
    });
  }

  start(): void {
    this.timer = setInterval(() => {
      if (!this.running) void this.drain();
    }, this.options.everyMs);
    this.timer.unref();
  }

  /**
   * Sweeps until a run finds less than a batch, or fails: the backlog an upgrade leaves (every row
   * acked before the mark existed) is then worked off at once instead of a batch per tick.
   */
  private async drain(): Promise<void> {
    for (;;) {
      const run = await this.runOnce();
      if (this.stopped || run.claimed < this.batch || run.failed > 0) return;
    }
  }

  /** One sweep (joins one under way). Never rejects: failures are logged and counted. */
  runOnce(): Promise<AckAuditSweepRun> {
    if (this.running) return this.running;
    this.running = this.sweep().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** No new sweeps; resolves once the one under way is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  private async sweep(): Promise<AckAuditSweepRun> {
    const run: AckAuditSweepRun = { claimed: 0, written: 0, failed: 0 };
    const { logger, mailbox, graceMs } = this.options;
    const now = this.now().getTime();
    let items: InboxItem[];
    try {
      items = await mailbox.claimUnauditedAcks({
        ackedBefore: new Date(now - graceMs).toISOString(),
        now: new Date(now).toISOString(),
        // Retried after a grace at the earliest: a failing repair is not hammered every tick.
        claimUntil: new Date(now + Math.max(graceMs, this.options.everyMs)).toISOString(),
        limit: this.batch,
      });
    } catch (error) {
      this.errors.inc();
      logger.error({ err: error }, 'ack audit sweep: the unaudited pull acks could not be read');
      return run;
    }
    run.claimed = items.length;
    const confirmed: InboxItem[] = [];
    let inARow = 0;
    for (const item of items) {
      if (this.stopped || inARow >= FAILURES_PER_TICK) break;
      try {
        const found = await auditAckIfMissing(this.repairs, item.messageId, async () => item);
        if (found === 'written') {
          run.written++;
          this.repaired.inc();
          logger.warn(
            { messageId: item.messageId, systemId: item.systemId },
            'ack audit sweep: wrote the missing `acknowledged` of a pull ack',
          );
        }
        confirmed.push(item);
        inARow = 0;
      } catch (error) {
        run.failed++;
        inARow++;
        this.errors.inc();
        logger.error(
          { err: error, messageId: item.messageId, systemId: item.systemId },
          'ack audit sweep: the `acknowledged` of a pull ack could not be written (retried later)',
        );
      }
    }
    try {
      await mailbox.markAcksAudited(confirmed);
    } catch (error) {
      // Unmarked, they are claimed again later and found in the trail: a look each, no second entry.
      this.errors.inc();
      logger.error(
        { err: error, messageIds: confirmed.map((i) => i.messageId) },
        'ack audit sweep: audited pull acks could not be marked so',
      );
    }
    return run;
  }
}
