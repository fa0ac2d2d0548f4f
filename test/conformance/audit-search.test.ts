/**
 * The search rows' status, folded entry by entry as the stores append, against the status API's
 * messageView over the whole trail: the two must never disagree. And replays against dead-letters:
 * whatever order their chains' entries are folded in, and however their times tie, the status is
 * the one the causal history ends in (the projectors fold what each run finds, not in time order).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chainEntry, GENESIS_HASH } from '../../gateway/audit/hash-chain.ts';
import {
  foldEntry,
  inEventOrder,
  type SummaryState,
  summaryOf,
} from '../../gateway/audit/message-summary.ts';
import { deliveryChain } from '../../gateway/pipeline/delivery-audit.ts';
import { messageView } from '../../gateway/pipeline/status.ts';
import {
  AUDIT_EVENT_KINDS,
  type AuditEntry,
  type AuditEventKind,
  type AuditMessageStatus,
} from '../../gateway/ports/audit-store.ts';
import { auditEvent } from './audit-store.conformance.ts';

const MAIN = 'main';
const PARTITION = deliveryChain('st-melde', 0);
const T0 = Date.UTC(2026, 10, 29, 9, 0, 0);

/** Chains the entries in the order given, each chain from its genesis. */
function chained(
  events: Array<{ chain: string; ms: number; kind: AuditEventKind; detail?: Record<string, unknown> }>,
  sender: (i: number) => string | null = () => 'ags:14612000',
): AuditEntry[] {
  const heads = new Map<string, { seq: number; hash: string }>();
  return events.map((e, i) => {
    const entry = chainEntry(
      auditEvent({
        messageId: 'm',
        kind: e.kind,
        sender: sender(i),
        time: new Date(T0 + e.ms).toISOString(),
        detail: e.detail ?? {},
      }),
      e.chain,
      heads.get(e.chain) ?? { seq: 0, hash: GENESIS_HASH },
    );
    heads.set(e.chain, entry);
    return entry;
  });
}

function fold(entries: AuditEntry[]): SummaryState {
  let state: SummaryState | undefined;
  for (const entry of entries) state = foldEntry(state, entry);
  return state!;
}

const generation = fc.option(fc.nat({ max: 3 }), { nil: undefined });

describe('message search rows', () => {
  it('fold to the status messageView derives from the same trail', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            kind: fc.constantFrom(...AUDIT_EVENT_KINDS),
            sender: fc.option(fc.constantFrom('ags:14612000', 'ags:15003000'), { nil: null }),
            chain: fc.constantFrom(MAIN, PARTITION),
            // Few distinct milliseconds: entries of the two chains tie often.
            ms: fc.nat({ max: 4 }),
            generation,
          }),
          { minLength: 1, maxLength: 15 },
        ),
        (events) => {
          const trail = chained(
            events.map((e) => ({
              ...e,
              ...(e.generation === undefined ? {} : { detail: { replayGeneration: e.generation } }),
            })),
            (i) => events[i]!.sender,
          );
          // The projectors fold a run's entries in event order (gateway/audit/*-message-projector.ts).
          const inOrder = [...trail].sort(inEventOrder);
          const summary = summaryOf(fold(inOrder));
          const view = messageView('m', trail)!;
          expect(summary.status).toBe(view.status);
          expect(summary.sender).toBe(view.sender);
          expect(summary.events).toBe(trail.length);
          expect(summary.firstTime).toBe(inOrder[0]!.time);
          expect(summary.lastTime).toBe(inOrder.at(-1)!.time);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('follow replays and dead-letters by cause, in any fold order that keeps each chain in order', () => {
    // A message's causal history: ingress; delivery rounds 0..n, each some failed attempts and then
    // dead-lettered (replayed as the next generation by an operator) or, last, delivered.
    const history = fc.record({
      rounds: fc.array(
        fc.record({
          attempts: fc.nat({ max: 2 }),
          // ms from the previous entry of the partition's chain: 0 is a tie.
          gaps: fc.array(fc.nat({ max: 1 }), { minLength: 4, maxLength: 4 }),
          // When `replayed` is appended, relative to the dead-letter it answers: it is written after
          // the republish, so the next round may start (and end) before it.
          replayedAfter: fc.nat({ max: 3 }),
        }),
        { minLength: 1, maxLength: 4 },
      ),
      delivered: fc.boolean(),
      acknowledged: fc.boolean(),
      // Which chain's entry each fold step takes (a run's findings, in any order it may meet them).
      interleaving: fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
    });
    fc.assert(
      fc.property(history, ({ rounds, delivered, acknowledged, interleaving }) => {
        type Event = { chain: string; ms: number; kind: AuditEventKind; detail?: Record<string, unknown> };
        const main: Event[] = (['received', 'accepted', 'signed', 'queued'] as const).map((kind) => ({
          chain: MAIN,
          ms: 0,
          kind,
        }));
        const partition: Event[] = [];
        let ms = 0;
        rounds.forEach((round, g) => {
          const step = (i: number) => (ms += round.gaps[Math.min(i, 3)]!);
          for (let a = 0; a < round.attempts; a++) {
            partition.push({ chain: PARTITION, ms: step(a), kind: 'delivery-attempted' });
          }
          const last = g === rounds.length - 1;
          if (last && delivered) {
            partition.push({ chain: PARTITION, ms: step(3), kind: 'delivered' });
            if (acknowledged) partition.push({ chain: PARTITION, ms: step(3), kind: 'acknowledged' });
            return;
          }
          partition.push({
            chain: PARTITION,
            ms: step(3),
            kind: 'dead-lettered',
            detail: { replayGeneration: g },
          });
          if (!last) {
            main.push({
              chain: MAIN,
              ms: ms + round.replayedAfter,
              kind: 'replayed',
              detail: { replayGeneration: g + 1 },
            });
          }
        });
        const expected: AuditMessageStatus = !delivered
          ? 'dead-lettered'
          : acknowledged
            ? 'acknowledged'
            : 'delivered';
        const trail = chained([...main, ...partition]);
        expect(messageView('m', trail)!.status).toBe(expected);

        // Any merge of the two chains (each in its own order): what runs of a projector may fold.
        const byChain = [trail.filter((e) => e.chain === MAIN), trail.filter((e) => e.chain === PARTITION)];
        const merged: AuditEntry[] = [];
        let i = 0;
        while (byChain[0]!.length + byChain[1]!.length > 0) {
          const pick =
            byChain[0]!.length === 0 ? 1 : byChain[1]!.length === 0 ? 0 : interleaving[i++ % 40] ? 1 : 0;
          merged.push(byChain[pick]!.shift()!);
        }
        expect(summaryOf(fold(merged)).status).toBe(expected);
      }),
      { numRuns: 1000 },
    );
  });
});
