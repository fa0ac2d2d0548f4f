/**
 * Answer deadlines at run time. Fed with audit entries (callbacks/notifying-audit-log.ts):
 * - `delivered` of a message whose contract sets `deadlines[].answerWithin` for its type opens a
 *   case; the deadline is `workingDays` working days of the receiving system's Land after the day
 *   of delivery (working-days.ts: weekends and the Land's public holidays do not count);
 * - `accepted` of a message whose referenzUUID names a case, of one of the case's `answeredBy`
 *   types, closes it. That is how XMeld links them: a 0203 (or 0204) carries the 0201's
 *   nachrichtenUUID as its referenzUUID.
 * A case is overdue once its deadline day has passed in Berlin without an answer. `check()` lists the
 * overdue cases, sets `gateway_overdue_answers{system}` (receiving system) and sends each overdue
 * case's sender a reminder callback (`message.overdue`), at least once like every callback: the
 * store's atomic claim is a lease (REMINDER_LEASE_MS) that makes one process or replica send it,
 * and the case reads reminded only once the dispatcher has the event on the bus. A process that dies
 * between the claim and the publish, or whose publish fails, leaves an expired claim, and the next
 * check (anywhere) sends the reminder; a repeat is harmless, the event id lets receivers drop it.
 * It runs on every API read, every scrape and every `intervalMs`. The cases live in an
 * OverdueCaseStore (SQLite in the data directory, or PostgreSQL shared by the replicas).
 *
 * observe() runs for every audit entry, at the pace of the pipeline: it keeps only what concerns a
 * case (a delivery under a deadline rule, a non-receipt with a referenzUUID), as copies of the few
 * strings needed, and the store takes what waits as one batch (one group commit, not one per entry).
 */
import type { CallbackDispatcher } from '../callbacks/callback-dispatcher.ts';
import { callbackEvent } from '../callbacks/callback-event.ts';
import type { Contracts } from '../directory/contracts.ts';
import type { Directory } from '../directory/directory.ts';
import { forMessage, type Logger } from '../log/logger.ts';
import type { AuditEntry } from '../ports/audit-store.ts';
import type { CaseAnswer, OpenCase, OverdueCaseStore, StoredCase } from '../ports/overdue-case-store.ts';
import { isReceiptType } from '../receipts/receipt-type.ts';
import { LAENDER, type Land } from './holidays.ts';
import { berlinDate, deadline } from './working-days.ts';

export interface OverdueWatcherDeps {
  /** Owned by the watcher from here on: stop() closes it. */
  store: OverdueCaseStore;
  directory: () => Directory;
  contracts: () => Contracts;
  callbacks?: CallbackDispatcher;
  /** Sets the gauge per receiving system (metrics.overdueAnswers). */
  report?: (perSystem: Map<string, number>) => void;
  logger: Logger;
  now?: () => Date;
  /** How often to look for newly overdue cases (reminders); 0: only when asked. Default 60 s. */
  intervalMs?: number;
}

export interface OverdueCase extends StoredCase {
  /** Whole Berlin calendar days since the deadline day. */
  daysOverdue: number;
}

function isLand(land: string): land is Land {
  return (LAENDER as readonly string[]).includes(land);
}

/**
 * A copy of a string that holds no reference to a larger one. An entry's ids can be slices of the
 * sealed document (V8 keeps the whole parent string alive for a slice); a waiting case must not pin it.
 */
function detached(text: string): string {
  return JSON.parse(JSON.stringify(text)) as string;
}

/** What waits for the store: a case to open or an answer to record, in the order seen. */
type CaseEvent = { open: OpenCase } | { answer: CaseAnswer };

/**
 * How long a claimed reminder is left to its claimer. Far longer than a healthy publish takes, so in
 * normal operation one replica sends each reminder; short enough that a reminder its claimer died
 * with (or could not publish) goes out a few minutes late, at the first check after it. A publish
 * slower than this means at most a repeat, which receivers drop by the event id.
 */
export const REMINDER_LEASE_MS = 5 * 60_000;

function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000);
}

export class OverdueWatcher {
  private readonly store: OverdueCaseStore;
  private readonly now: () => Date;
  private timer: NodeJS.Timeout | undefined;
  /** Batches are handled one after another, in the order seen (a delivery before its answer). */
  private queue: Promise<void> = Promise.resolve();
  /** Events not yet taken by a batch; the batch scheduled when this became non-empty takes them all. */
  private waiting: CaseEvent[] = [];
  /** Reminders being sent: stop() lets them reach the bus and be marked before the store closes. */
  private readonly reminding = new Set<Promise<void>>();

  constructor(private readonly deps: OverdueWatcherDeps) {
    this.store = deps.store;
    this.now = deps.now ?? (() => new Date());
  }

  start(): void {
    const every = this.deps.intervalMs ?? 60_000;
    if (every <= 0) return;
    this.timer = setInterval(() => {
      this.check().catch((error) => this.deps.logger.error({ err: error }, 'overdue check failed'));
    }, every);
    this.timer.unref();
  }

  /**
   * Reacts to an audit entry in the background (never throws, never blocks the entry's stage: a
   * failure is logged). idle() resolves once every entry seen so far is handled.
   */
  observe(entry: AuditEntry): void {
    if (entry.kind !== 'delivered' && entry.kind !== 'accepted') return;
    try {
      const event = entry.kind === 'delivered' ? this.opening(entry) : answering(entry);
      if (event) this.enqueue(event);
    } catch (error) {
      this.deps.logger.error(
        { err: error, messageId: entry.messageId },
        'answer deadline bookkeeping failed',
      );
    }
  }

  idle(): Promise<void> {
    return this.queue;
  }

  /** Where the cases live: 'postgres' when the replicas share them. */
  get storeKind(): OverdueCaseStore['kind'] {
    return this.store.kind;
  }

  /** The overdue cases now; sends the reminders not yet sent and updates the gauge. */
  async check(): Promise<OverdueCase[]> {
    // What this process has seen counts: entries observed before the check are in the store.
    await this.queue;
    const today = berlinDate(this.now());
    const overdue = await this.store.overdue(today);
    const perSystem = new Map<string, number>(this.deps.directory().systems.map((s) => [s.id, 0]));
    for (const c of overdue) perSystem.set(c.receiverSystem, (perSystem.get(c.receiverSystem) ?? 0) + 1);
    this.deps.report?.(perSystem);
    const now = this.now();
    const at = now.toISOString();
    const until = new Date(now.getTime() + REMINDER_LEASE_MS).toISOString();
    await Promise.all(
      overdue
        .filter((c) => c.remindedAt === null)
        .map((c) => {
          const sending = this.remind(c, at, until);
          // The check reports a failure; the tracked copy only waits (and must not reject unhandled).
          const tracked = sending.catch(() => {}).finally(() => this.reminding.delete(tracked));
          this.reminding.add(tracked);
          return sending;
        }),
    );
    return overdue.map((c) => ({ ...c, daysOverdue: daysBetween(c.deadline, today) }));
  }

  /** Sends the reminder of `c` if this check claims it; sets `c.remindedAt` once it is on the bus. */
  private async remind(c: StoredCase, at: string, until: string): Promise<void> {
    if (!(await this.store.claimReminder(c.messageId, at, until))) return;
    const log = forMessage(this.deps.logger, c.messageId);
    log.warn(
      { deadline: c.deadline, receiverSystem: c.receiverSystem },
      'answer overdue; reminding the sender',
    );
    const event = callbackEvent({
      messageId: c.messageId,
      messageType: c.messageType,
      status: 'overdue',
      time: at,
      receiverSystem: c.receiverSystem,
      deadline: c.deadline,
    });
    // Without a dispatcher nothing is owed; queue() counts and logs a failed publish itself.
    const queued = this.deps.callbacks ? await this.deps.callbacks.queue(c.senderSystem, event) : true;
    if (!queued) {
      log.warn({ retryAfter: until }, 'overdue reminder not on the bus; sent again once its claim expires');
      return;
    }
    if (await this.store.markReminded(c.messageId, at)) c.remindedAt = at;
  }

  /** One case, answered or not (tests, diagnostics). */
  async get(messageId: string): Promise<StoredCase | undefined> {
    await this.queue;
    return this.store.get(messageId);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.queue;
    await Promise.allSettled([...this.reminding]);
    await this.store.close();
  }

  private enqueue(event: CaseEvent): void {
    this.waiting.push(event);
    if (this.waiting.length > 1) return;
    this.queue = this.queue.then(() => this.handleWaiting());
  }

  /** Hands every waiting event to the store at once: the SQLite store commits them together. */
  private async handleWaiting(): Promise<void> {
    const batch = this.waiting;
    this.waiting = [];
    await Promise.all(
      batch.map((event) => ('open' in event ? this.opened(event.open) : this.answered(event.answer))),
    );
  }

  /** The case a delivery opens, or undefined if no deadline rule covers the message. */
  private opening(entry: AuditEntry): CaseEvent | undefined {
    const { messageId, messageType, senderSystem, receiverSystem, sender, receiver } = entry;
    if (!messageId || !messageType || !senderSystem || !receiverSystem || !sender || !receiver) return;
    if (isReceiptType(messageType)) return;
    const [standard, , name] = messageType.split(':');
    if (!standard || !name) return;
    const rule = this.deps.contracts().answerDeadline({
      senderSystem,
      senderAuthority: sender,
      receiverAuthority: receiver,
      standard,
      messageType: name,
    });
    if (!rule) return;
    const land = this.deps.directory().system(receiverSystem)?.land ?? '';
    if (!isLand(land)) {
      forMessage(this.deps.logger, messageId).warn(
        { receiverSystem, land },
        'no answer deadline: the receiving system belongs to no Land calendar',
      );
      return;
    }
    const deliveredAt = new Date(entry.time);
    return {
      open: {
        messageId: detached(messageId),
        messageType: detached(messageType),
        senderSystem: detached(senderSystem),
        receiverSystem: detached(receiverSystem),
        land,
        contract: rule.contract,
        workingDays: rule.workingDays,
        answeredBy: rule.answeredBy,
        deliveredAt: deliveredAt.toISOString(),
        deadline: deadline(deliveredAt, rule.workingDays, land),
      },
    };
  }

  private async opened(c: OpenCase): Promise<void> {
    try {
      if (await this.store.open(c))
        forMessage(this.deps.logger, c.messageId).info(
          { deadline: c.deadline, land: c.land, workingDays: c.workingDays },
          'answer deadline set',
        );
    } catch (error) {
      this.deps.logger.error({ err: error, messageId: c.messageId }, 'answer deadline bookkeeping failed');
    }
  }

  private async answered(a: CaseAnswer): Promise<void> {
    try {
      if (await this.store.answer(a))
        forMessage(this.deps.logger, a.referenzUUID).info({ answerId: a.answerId }, 'answered');
    } catch (error) {
      this.deps.logger.error({ err: error, messageId: a.answerId }, 'answer deadline bookkeeping failed');
    }
  }
}

/** The answer an accepted message records: any non-receipt that names another message. */
function answering(entry: AuditEntry): CaseEvent | undefined {
  const referenz = entry.detail.referenzUUID;
  if (typeof referenz !== 'string' || !entry.messageId || !entry.messageType) return;
  if (isReceiptType(entry.messageType)) return;
  return {
    answer: {
      referenzUUID: detached(referenz),
      answerId: detached(entry.messageId),
      answerType: detached(entry.messageType),
      answeredAt: detached(entry.time),
    },
  };
}
