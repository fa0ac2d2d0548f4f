/**
 * The per-message search row (AuditMessageSummary), folded entry by entry by the stores' projectors
 * (pg-message-projector.ts, sqlite-message-projector.ts).
 * The status rules are those of gateway/pipeline/status.ts (messageView); a property test keeps the
 * two in step (test/conformance/audit-search.test.ts).
 *
 * Replays and dead-letterings are ordered by cause, not by clock. `replayed` goes to the main chain
 * (written after the republish), `dead-lettered` to a partition's chain, and across chains only the
 * millisecond `time` orders entries: a replayed record can be dead-lettered again within the
 * millisecond of its `replayed`, or even before that entry is appended, and a projector can fold
 * them in either order. So both carry the record's replay generation (`detail.replayGeneration`:
 * 0 for the original delivery, n for the n-th replay; bus header gw-replay-generation), and a
 * dead-letter stands unless a later generation was replayed, whatever order the two are folded in.
 * Entries written before generations existed keep the old rule: the later in the fold wins. The
 * ingress's events, appended after its publish too, never undo a dead-letter (INGRESS_KINDS).
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

/**
 * The ingress's events. It appends them once the message is on the bus, so the delivery worker's
 * events, a dead-letter among them, can carry an earlier time or the same millisecond: they never
 * undo a dead-letter (a resend of the message is refused, so none of them can follow one).
 */
export const INGRESS_KINDS: ReadonlySet<AuditEventKind> = new Set([
  'received',
  'accepted',
  'signed',
  'converted',
  'queued',
]);

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
  /** Highest replay generation among the `replayed` entries folded so far (null: none carried one). */
  replayGeneration: number | null;
  /** Highest replay generation among the `dead-lettered` entries folded so far (null: none carried one). */
  deadLetterGeneration: number | null;
}

/** The entry kinds whose `detail.replayGeneration` the fold reads; the projectors read detail for these only. */
export const GENERATION_KINDS: readonly AuditEventKind[] = ['replayed', 'dead-lettered'];

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
> & {
  /** Read only for GENERATION_KINDS; the projectors leave it out (null) for the other kinds. */
  detail?: Readonly<Record<string, unknown>> | null;
};

/** The replay generation an entry records, if it is a GENERATION_KINDS entry that records one. */
export function recordedReplayGeneration(entry: Pick<FoldedEntry, 'kind' | 'detail'>): number | null {
  if (entry.kind !== 'replayed' && entry.kind !== 'dead-lettered') return null; // GENERATION_KINDS, on the hot path
  const generation = entry.detail?.replayGeneration;
  return typeof generation === 'number' && Number.isSafeInteger(generation) && generation >= 0
    ? generation
    : null;
}

/**
 * The order in which a message's events are folded, everywhere (status API, both projectors):
 * several processes append to their own chains, so only time orders events across chains; chain
 * and seq break ties. Code-unit comparison, not localeCompare: the order must not depend on a locale.
 * The fold's outcome does not hang on this order where cause and clock disagree (the generations,
 * INGRESS_KINDS); the status API shows the history in causal order (pipeline/causal-history.ts).
 */
export function inEventOrder(
  a: Pick<AuditEntry, 'time' | 'chain' | 'seq'>,
  b: Pick<AuditEntry, 'time' | 'chain' | 'seq'>,
): number {
  if (a.time !== b.time) return a.time < b.time ? -1 : 1;
  if (a.chain !== b.chain) return a.chain < b.chain ? -1 : 1;
  return a.seq - b.seq;
}

/** Folds one entry (with a messageId) into the message's state; `state` undefined for a new message. */
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
        replayGeneration: null,
        deadLetterGeneration: null,
      };
  const generation = recordedReplayGeneration(entry);
  // A replay of generation g answers the dead-letters of generations below g; a dead-letter of
  // generation g or above came after it, whichever of the two is folded first.
  const replayAnswered =
    entry.kind === 'replayed' &&
    generation !== null &&
    s.deadLetterGeneration !== null &&
    s.deadLetterGeneration >= generation;
  const deadLetterAnswered =
    entry.kind === 'dead-lettered' &&
    generation !== null &&
    s.replayGeneration !== null &&
    s.replayGeneration > generation;
  if (generation !== null) {
    if (entry.kind === 'replayed') s.replayGeneration = Math.max(s.replayGeneration ?? 0, generation);
    else s.deadLetterGeneration = Math.max(s.deadLetterGeneration ?? 0, generation);
  }
  const progress = PROGRESS[entry.kind];
  if (progress && progress.rank >= s.progressRank) {
    s.progressRank = progress.rank;
    s.progressStatus = progress.status;
    // A replay after dead-lettering moves the message on again (unless it was dead-lettered again).
    if (s.failureStatus !== 'dead-lettered' || (!replayAnswered && !INGRESS_KINDS.has(entry.kind))) {
      s.failureStatus = null;
    }
  }
  const failure = deadLetterAnswered ? undefined : TERMINAL_FAILURE[entry.kind];
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
