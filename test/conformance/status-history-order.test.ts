/**
 * The status API's history in causal order (gateway/pipeline/causal-history.ts), whatever the
 * clocks say and whatever order the store returns the entries in: generated delivery histories —
 * the ingress's entries appended after the first attempts, replays appended after the generation
 * they caused, ties in the millisecond across chains — must come out with every cause before its
 * effects, and any trail, shuffled, must give the same history.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deliveryChain, retryChain } from '../../gateway/pipeline/delivery-audit.ts';
import { messageView } from '../../gateway/pipeline/status.ts';
import { AUDIT_EVENT_KINDS, type AuditEntry, type AuditEventKind } from '../../gateway/ports/audit-store.ts';

const DELIVER = deliveryChain('st-melde', 0);
const RETRY = retryChain('st-melde', 0);
const T0 = Date.UTC(2026, 10, 29, 9, 0, 0);

interface Event {
  chain: string;
  ms: number;
  kind: AuditEventKind;
  detail?: Record<string, unknown>;
}

/** Entries on their chains, seq counted per chain in the order given. */
function chained(events: Event[]): AuditEntry[] {
  const seqs = new Map<string, number>();
  return events.map((e) => {
    const seq = (seqs.get(e.chain) ?? 0) + 1;
    seqs.set(e.chain, seq);
    return {
      chain: e.chain,
      seq,
      prevHash: '',
      hash: '',
      time: new Date(T0 + e.ms).toISOString(),
      kind: e.kind,
      actor: 'gateway',
      messageId: 'm',
      sender: 'ags:14612000',
      receiver: 'ags:15003000',
      senderSystem: 'sn-melde',
      receiverSystem: 'st-melde',
      messageType: 't',
      digest: null,
      detail: e.detail ?? {},
    };
  });
}

const key = (h: { chain: string; seq: number }) => `${h.chain}#${h.seq}`;

/** Fisher–Yates by the given random draws. */
function shuffled<T>(items: readonly T[], draws: readonly number[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor((draws[i % draws.length]! * (i + 1)) / 1_000_001);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const draws = fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 1, maxLength: 40 });

describe('message history order', () => {
  it('is the same for any order the store returns the trail in', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            kind: fc.constantFrom(...AUDIT_EVENT_KINDS),
            chain: fc.constantFrom('main', 'a-ops', DELIVER, RETRY),
            // Few distinct milliseconds: entries of the chains tie often.
            ms: fc.nat({ max: 4 }),
            generation: fc.option(fc.nat({ max: 3 }), { nil: undefined }),
            attempt: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
          }),
          { minLength: 1, maxLength: 20 },
        ),
        draws,
        (events, random) => {
          const trail = chained(
            events.map((e) => ({
              ...e,
              detail: {
                ...(e.generation === undefined ? {} : { replayGeneration: e.generation }),
                ...(e.attempt === undefined ? {} : { attempt: e.attempt }),
              },
            })),
          );
          const view = messageView('m', trail)!;
          const again = messageView('m', shuffled(trail, random))!;
          expect(again.history).toEqual(view.history);
          expect(again.status).toBe(view.status);
          // Every entry once, and each chain in seq order.
          expect(view.history.map(key).sort()).toEqual(trail.map(key).sort());
          const last = new Map<string, number>();
          for (const h of view.history) {
            expect(h.seq).toBeGreaterThan(last.get(h.chain) ?? 0);
            last.set(h.chain, h.seq);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('puts every cause before its effects in a delivery history, however the clocks fall', () => {
    // Rounds 0..n: the first attempt on the deliver topic's chain, the next ones on the retry
    // topic's; each round dead-lettered and replayed as the next generation, or, last, delivered.
    const history = fc.record({
      // When the ingress appends its entries: after its publish, so the first attempts may come first.
      ingressAt: fc.nat({ max: 3 }),
      rounds: fc.array(
        fc.record({
          attempts: fc.nat({ max: 3 }),
          // ms from the previous delivery entry: 0 is a tie.
          gaps: fc.array(fc.nat({ max: 1 }), { minLength: 5, maxLength: 5 }),
          // When `replayed` is appended, relative to the dead-letter it answers (it may even come
          // first: the dead-letter is appended after its publish) ...
          replayedAfter: fc.integer({ min: -1, max: 4 }),
          // ... and when the replayed record is first attempted: after an operator saw the dead-letter.
          redeliveredAfter: fc.integer({ min: 1, max: 3 }),
          replayChain: fc.constantFrom('main', 'a-ops', 'zz-ops'),
        }),
        { minLength: 1, maxLength: 4 },
      ),
      delivered: fc.boolean(),
    });
    fc.assert(
      fc.property(history, draws, ({ ingressAt, rounds, delivered }, random) => {
        const events: Event[] = (['received', 'accepted', 'signed', 'queued'] as const).map((kind) => ({
          chain: 'main',
          ms: ingressAt,
          kind,
        }));
        /** The round of each delivery and replay entry, by its index in `events`. */
        const roundOf = new Map<number, number>();
        const push = (event: Event, round: number) => {
          roundOf.set(events.length, round);
          events.push(event);
        };
        let ms = 0;
        rounds.forEach((round, g) => {
          if (g > 0) ms += rounds[g - 1]!.redeliveredAfter;
          let chain = DELIVER;
          for (let a = 1; a <= round.attempts; a++) {
            if (a > 1) {
              ms += round.gaps[Math.min(a, 4)]!;
              chain = RETRY;
            }
            push({ chain, ms, kind: 'delivery-attempted', detail: { attempt: a } }, g);
          }
          const last = g === rounds.length - 1;
          ms += round.gaps[0]!;
          if (last && delivered) {
            push({ chain, ms, kind: 'delivered', detail: { attempt: Math.max(round.attempts, 1) } }, g);
            push({ chain, ms, kind: 'acknowledged' }, g);
            return;
          }
          const detail = { attempts: round.attempts, replayGeneration: g };
          push({ chain, ms, kind: 'dead-lettered', detail }, g);
          if (!last) {
            const replayed = { replayGeneration: g + 1 };
            const at = ms + round.replayedAfter;
            push({ chain: round.replayChain, ms: at, kind: 'replayed', detail: replayed }, g + 1);
          }
        });
        const trail = chained(events);
        const history = messageView('m', shuffled(trail, random))!.history;
        const position = new Map(history.map((h, i) => [key(h), i]));
        const at = (i: number) => position.get(key(trail[i]!))!;
        const ingress = [0, 1, 2, 3];
        const deliveries = [...roundOf.keys()].filter((i) => trail[i]!.kind !== 'replayed');
        const replays = [...roundOf.keys()].filter((i) => trail[i]!.kind === 'replayed');
        for (const d of deliveries) {
          for (const i of ingress) expect(at(i)).toBeLessThan(at(d));
          for (const r of replays) {
            // A replay of generation n: after everything of the rounds before n, before round n's.
            if (roundOf.get(r)! <= roundOf.get(d)!) expect(at(r)).toBeLessThan(at(d));
            else expect(at(d)).toBeLessThan(at(r));
          }
          for (const e of deliveries) {
            if (roundOf.get(e)! < roundOf.get(d)!) expect(at(e)).toBeLessThan(at(d));
          }
        }
        for (const i of ingress) for (const r of replays) expect(at(i)).toBeLessThan(at(r));
      }),
      { numRuns: 1000 },
    );
  });
});
