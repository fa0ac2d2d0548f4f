/**
 * The per-message search row (AuditMessageSummary), folded entry by entry by the stores' projectors
 * (pg-message-projector.ts, sqlite-message-projector.ts).
 * The status rules are those of gateway/pipeline/status.ts (messageView); a property test keeps the
 * two in step (test/conformance/audit-search.test.ts).
 */
import type {
  AuditEntry,
  AuditEventKind,
  AuditMessageStatus,
  AuditMessageSummary,
} from '../ports/audit-store.ts';

/** Lifecycle rank of each event kind; the status API (gateway/pipeline/status.ts) uses the same table. */
export const PROGRESS: Partial<Record<AuditEventKind, { status: AuditMessageStatus; rank: number }>> = {
  received: { status: 'received', rank: 1 },
  accepted: { status: 'accepted', rank: 2 },
  signed: { status: 'accepted', rank: 2 },
  converted: { status: 'accepted', rank: 2 },
  queued: { status: 'queued', rank: 3 },
  'delivery-attempted': { status: 'queued', rank: 3 },
  replayed: { status: 'queued', rank: 3 },
  delivered: { status: 'delivered', rank: 4 },
  fetched: { status: 'delivered', rank: 4 },
  acknowledged: { status: 'acknowledged', rank: 5 },
};

const ACCEPTED_RANK = PROGRESS.accepted!.rank;

export const TERMINAL_FAILURE: Partial<Record<AuditEventKind, AuditMessageStatus>> = {
  rejected: 'rejected',
  failed: 'failed',
  'dead-lettered': 'dead-lettered',
};

/** The summary plus the fold state the status needs. */
export interface SummaryState extends AuditMessageSummary {
  progressRank: number;
  progressStatus: AuditMessageStatus;
  failureStatus: AuditMessageStatus | null;
}

/** What the fold reads of an entry. */
export type FoldedEntry = Pick<
  AuditEntry,
  | 'time'
  | 'kind'
  | 'messageId'
  | 'sender'
  | 'receiver'
  | 'senderSystem'
  | 'receiverSystem'
  | 'messageType'
  | 'digest'
>;

/** Folds one entry (with a messageId) into the message's state; `state` undefined for a new message. */
/**
 * The order in which a message's events are folded, everywhere (status API, both projectors):
 * several processes append to their own chains, so only time orders events across chains; chain
 * and seq break ties. Code-unit comparison, not localeCompare: the order must not depend on a locale.
 */
export function inEventOrder(
  a: Pick<AuditEntry, 'time' | 'chain' | 'seq'>,
  b: Pick<AuditEntry, 'time' | 'chain' | 'seq'>,
): number {
  if (a.time !== b.time) return a.time < b.time ? -1 : 1;
  if (a.chain !== b.chain) return a.chain < b.chain ? -1 : 1;
  return a.seq - b.seq;
}

export function foldEntry(state: SummaryState | undefined, entry: FoldedEntry): SummaryState {
  const s: SummaryState = state
    ? { ...state }
    : {
        messageId: entry.messageId!,
        firstTime: entry.time,
        lastTime: entry.time,
        status: 'received',
        messageType: null,
        sender: null,
        receiver: null,
        senderSystem: null,
        receiverSystem: null,
        digest: null,
        events: 0,
        progressRank: 0,
        progressStatus: 'received',
        failureStatus: null,
      };
  const progress = PROGRESS[entry.kind];
  if (progress && progress.rank >= s.progressRank) {
    s.progressRank = progress.rank;
    s.progressStatus = progress.status;
    s.failureStatus = null; // a replay after dead-lettering moves the message on again
  }
  const failure = TERMINAL_FAILURE[entry.kind];
  // `rejected` and `failed` answer an attempt to have the message accepted. Once it was accepted,
  // such an entry is a resend the gateway refused (a replayed nachrichtenUUID: 409) or could not
  // take: it is in the trail for the auditors, and the accepted message's fate stays what it is.
  const refusedResend =
    s.progressRank >= ACCEPTED_RANK && (entry.kind === 'rejected' || entry.kind === 'failed');
  if (failure && !refusedResend) s.failureStatus = failure;
  s.status = s.failureStatus ?? s.progressStatus;
  if (entry.time < s.firstTime) s.firstTime = entry.time;
  if (entry.time > s.lastTime) s.lastTime = entry.time;
  s.messageType ??= entry.messageType;
  s.sender ??= entry.sender;
  s.receiver ??= entry.receiver;
  s.senderSystem ??= entry.senderSystem;
  s.receiverSystem ??= entry.receiverSystem;
  s.digest ??= entry.digest;
  s.events += 1;
  return s;
}

export function summaryOf(state: SummaryState): AuditMessageSummary {
  return {
    messageId: state.messageId,
    firstTime: state.firstTime,
    lastTime: state.lastTime,
    status: state.status,
    messageType: state.messageType,
    sender: state.sender,
    receiver: state.receiver,
    senderSystem: state.senderSystem,
    receiverSystem: state.receiverSystem,
    digest: state.digest,
    events: state.events,
  };
}
