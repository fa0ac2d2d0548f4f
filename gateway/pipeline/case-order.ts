/**
 * Per-case delivery order across retries (issue 8): messages of one case — one bus record key,
 * `referenzUUID ?? nachrichtenUUID` — reach their receiver in publish order, even when some of them
 * fail for a while. The state lives in the MailboxStore (CaseTicket), so it holds across processes
 * and restarts.
 *
 * - A record that cannot be delivered now takes a ticket and is parked in `<prefix>.retry.<system>`
 *   carrying the ticket number (header gw-case-ticket). The case's head is its lowest pending ticket.
 * - On the deliver topic, a record whose case has a pending ticket is parked behind it at once,
 *   without an attempt: it must not overtake the parked one.
 * - On the retry topic, a record is attempted only when its ticket is its case's head; otherwise it
 *   is parked again (at the tail of the retry partition, which keeps the waiting records of the case
 *   in ticket order) with the head's not-before time — it comes round once per attempt of the head,
 *   never in a busy loop.
 * - Delivering or dead-lettering the head settles its ticket; the case's next ticket becomes head.
 *
 * Dead-lettering the head does NOT stop the case: the later records are still delivered, in order.
 * A head is dead-lettered for its own reason (its seal, a receiver's 4xx for that document, or the
 * attempts/age limit); holding every later message of the case until an operator acts could hold
 * them for days and would turn one poison message into a blocked case. The dead-letter is audited
 * and listed by `gw dlq list`; replaying it delivers it after the records that went on meanwhile.
 * When a receiver stays down, every record of the case reaches the age limit counted from when it
 * started waiting, so a case drains into the dead-letter queue instead of waiting N times the limit.
 *
 * Other cases and systems are not held up: a waiting record is re-parked, never left at the head of
 * its retry partition (only a not-yet-due record pauses its partition, as before, for at most the
 * retry policy's maxDelayMs).
 */
import { HEADER } from '../bus/topics.ts';
import type { ConsumedRecord } from '../ports/bus.ts';
import type { CaseTicket, MailboxStore } from '../ports/mailbox-store.ts';

/** Bus header on a parked record: its case ticket (decimal). */
export const CASE_TICKET_HEADER = HEADER.caseTicket;

/** Where a record came from: the same bytes identify it on a redelivery or a replayed partition. */
export function sourceOf(record: ConsumedRecord): string {
  return `${record.topic}/${record.partition}/${record.offset}`;
}

export function ticketOf(record: ConsumedRecord): number | undefined {
  const ticket = Number(record.headers[CASE_TICKET_HEADER]);
  return Number.isSafeInteger(ticket) && ticket > 0 ? ticket : undefined;
}

/**
 * The delivery ledger's answer for one messageId, read with the case view (one look instead of two
 * per record). The messageId is the record's unsealed header: deliver() uses the answer only for
 * the identical verified nachrichtenUUID and asks the ledger itself otherwise.
 */
export interface LedgerLook {
  messageId: string;
  delivered: boolean;
}

/** What to do with a record from the deliver topic. */
export type DeliverTopicStep =
  /** Nothing of its case waits: attempt it now. */
  | { kind: 'attempt'; ledger?: LedgerLook }
  /** This very record was handled before and its ticket settled (a redelivery, a replay). */
  | { kind: 'settled' }
  /** This record already holds a pending ticket (parked before it was committed): park it again. */
  | { kind: 'park-again'; ticket: CaseTicket }
  /** An earlier record of its case waits: take a ticket and park behind it. */
  | { kind: 'park-behind'; head: CaseTicket };

/** What to do with a record from the retry topic. */
export type RetryTopicStep =
  /** Its case's turn (or a record parked without a ticket): attempt it. */
  | { kind: 'attempt'; ticket: number | undefined; ledger?: LedgerLook }
  /** Its ticket was settled already (a duplicate copy): drop it. */
  | { kind: 'settled' }
  /** An earlier ticket of its case is still pending: park again, not before `notBefore`. */
  | { kind: 'wait'; notBefore: Date };

export class CaseOrder {
  constructor(
    private readonly store: MailboxStore,
    /** Shortest wait of a re-parked record whose head is overdue (the head is missing from the partition). */
    private readonly minWaitMs: number,
  ) {}

  /** `delivered`: a messageId whose ledger row to read in the same look (see LedgerLook). */
  async onDeliverTopic(
    systemId: string,
    record: ConsumedRecord,
    delivered?: string,
  ): Promise<DeliverTopicStep> {
    const view = await this.store.caseView(systemId, record.key, { source: sourceOf(record), delivered });
    if (view.own) {
      const { done, ...ticket } = view.own;
      return done ? { kind: 'settled' } : { kind: 'park-again', ticket };
    }
    if (view.head) return { kind: 'park-behind', head: view.head };
    return { kind: 'attempt', ledger: ledgerLook(delivered, view.delivered) };
  }

  async onRetryTopic(
    systemId: string,
    record: ConsumedRecord,
    now: Date,
    delivered?: string,
  ): Promise<RetryTopicStep> {
    const ticket = ticketOf(record);
    // Parked before per-case order existed: attempted as then (its failure takes a ticket).
    if (ticket === undefined) return { kind: 'attempt', ticket: undefined };
    const view = await this.store.caseView(systemId, record.key, { ticket, delivered });
    // A ticket unknown to the store was settled and pruned long ago.
    if (!view.own || view.own.done) return { kind: 'settled' };
    if (!view.head || view.head.ticket === ticket)
      return { kind: 'attempt', ticket, ledger: ledgerLook(delivered, view.delivered) };
    // The head's own time: it is ahead in the partition and is attempted first. A head already due
    // yet not attempted is missing from the partition (or being handled elsewhere): wait a little.
    const headDue = Date.parse(view.head.notBefore);
    const notBefore = headDue > now.getTime() ? headDue : now.getTime() + this.minWaitMs;
    return { kind: 'wait', notBefore: new Date(notBefore) };
  }

  /** Takes (or finds) the ticket of a record from either topic, not before `notBefore`. */
  take(systemId: string, record: ConsumedRecord, messageId: string, notBefore: Date): Promise<CaseTicket> {
    return this.store.takeTicket({
      systemId,
      caseKey: record.key,
      source: sourceOf(record),
      messageId,
      notBefore: notBefore.toISOString(),
    });
  }

  reschedule(ticket: number, notBefore: Date): Promise<void> {
    return this.store.rescheduleTicket(ticket, notBefore.toISOString());
  }

  settle(ticket: number, outcome: 'delivered' | 'dead-lettered'): Promise<void> {
    return this.store.settleTicket(ticket, outcome);
  }
}

function ledgerLook(messageId: string | undefined, delivered: boolean | undefined): LedgerLook | undefined {
  return messageId === undefined || delivered === undefined ? undefined : { messageId, delivered };
}
