/**
 * The history orders delivery entries by the replay generation they record, not by one inferred
 * from the dead-letters around them: the processes writing the deliver and the retry topic's chains
 * have their own clocks, and a replay can be attempted in the millisecond of its dead-letter.
 * Entries written before delivery entries recorded it still take an inferred one.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AuditEntry, AuditEventKind } from '../ports/audit-store.ts';
import { inCausalOrder } from './causal-history.ts';
import { deliveryChain, retryChain } from './delivery-audit.ts';

const DELIVER = deliveryChain('st-melde', 0);
const RETRY = retryChain('st-melde', 0);
const T0 = Date.UTC(2026, 10, 29, 9, 0, 0);

type Event = [chain: string, ms: number, kind: AuditEventKind, detail?: Record<string, unknown>];

/** Entries on their chains, seq counted per chain in the order given; `ms` after a fixed instant. */
function chained(events: Event[]): AuditEntry[] {
  const seqs = new Map<string, number>();
  return events.map(([chain, ms, kind, detail]) => {
    const seq = (seqs.get(chain) ?? 0) + 1;
    seqs.set(chain, seq);
    return {
      chain,
      seq,
      prevHash: '',
      hash: '',
      time: new Date(T0 + ms).toISOString(),
      kind,
      actor: 'gateway',
      messageId: 'm',
      sender: null,
      receiver: null,
      senderSystem: 'sn-melde',
      receiverSystem: 'st-melde',
      messageType: 't',
      digest: null,
      detail: detail ?? {},
    };
  });
}

const INGRESS: Event[] = (['received', 'accepted', 'signed', 'queued'] as const).map((kind) => [
  'main',
  0,
  kind,
]);

/** `event#generation/attempt@chain`, and the same for the trail in reverse. */
function historyOf(trail: AuditEntry[]): string[] {
  const label = (e: AuditEntry) =>
    [
      e.kind,
      e.detail.replayGeneration === undefined ? '' : `#${e.detail.replayGeneration}`,
      e.detail.attempt === undefined ? '' : `/${e.detail.attempt}`,
      e.chain === DELIVER ? '@D' : e.chain === RETRY ? '@R' : `@${e.chain}`,
    ].join('');
  const history = inCausalOrder(trail).map(label);
  expect(inCausalOrder([...trail].reverse()).map(label)).toEqual(history);
  return history;
}

/** The trail as a version before this one wrote it: only `dead-lettered` and `replayed` record a generation. */
const asOlderVersionWrote = (trail: AuditEntry[]) =>
  trail.map((e) => {
    if (e.kind === 'dead-lettered' || e.kind === 'replayed') return e;
    const { replayGeneration: _generation, ...detail } = e.detail;
    return { ...e, detail };
  });

describe('history order by recorded replay generations', () => {
  it("orders a replay's delivery, attempted in the millisecond of the dead-letter, after it", () => {
    // An operator's script replays at once: the dead-letter (retry chain), `replayed` and the
    // replayed record's first attempt (deliver chain, a name sorting first) share a millisecond.
    const trail = chained([
      ...INGRESS,
      [DELIVER, 1, 'delivery-attempted', { attempt: 1, replayGeneration: 0 }],
      [RETRY, 5, 'delivery-attempted', { attempt: 2, replayGeneration: 0 }],
      [RETRY, 5, 'dead-lettered', { attempts: 2, replayGeneration: 0 }],
      ['main', 5, 'replayed', { replayGeneration: 1 }],
      [DELIVER, 5, 'delivery-attempted', { attempt: 1, replayGeneration: 1 }],
      [DELIVER, 5, 'delivered', { attempt: 1, replayGeneration: 1 }],
      [DELIVER, 5, 'acknowledged', { replayGeneration: 1 }],
    ]);
    const causal = [
      'delivery-attempted#0/1@D',
      'delivery-attempted#0/2@R',
      'dead-lettered#0@R',
      'replayed#1@main',
      'delivery-attempted#1/1@D',
      'delivered#1/1@D',
      'acknowledged#1@D',
    ];
    expect(historyOf(trail).slice(4)).toEqual(causal);
    // Inferred, the replayed record's entries count as generation 0 (no dead-letter at an earlier
    // millisecond) and come before the dead-letter, even before the retried attempt they followed.
    expect(historyOf(asOlderVersionWrote(trail)).slice(4)).toEqual([
      'delivery-attempted/1@D',
      'delivery-attempted/1@D',
      'delivered/1@D',
      'acknowledged@D',
      'delivery-attempted/2@R',
      'dead-lettered#0@R',
      'replayed#1@main',
    ]);
  });

  it('orders entries of two generations interleaved in time by their generations (a clock behind)', () => {
    // The retry topic's partition is held by a process whose clock is 10 ms behind: in store order
    // (by time) the second generation's delivery comes before the first generation's dead-letter.
    const trail = chained([
      [RETRY, -2, 'delivery-attempted', { attempt: 2, status: 204, replayGeneration: 1 }],
      [RETRY, -2, 'delivered', { attempt: 2, replayGeneration: 1 }],
      [RETRY, -2, 'acknowledged', { replayGeneration: 1 }],
      ...INGRESS,
      [DELIVER, 1, 'delivery-attempted', { attempt: 1, status: 400, replayGeneration: 0 }],
      [DELIVER, 2, 'dead-lettered', { attempts: 1, replayGeneration: 0 }],
      ['main', 5, 'replayed', { replayGeneration: 1 }],
      [DELIVER, 6, 'delivery-attempted', { attempt: 1, status: 503, replayGeneration: 1 }],
    ]);
    expect(historyOf(trail).slice(4)).toEqual([
      'delivery-attempted#0/1@D',
      'dead-lettered#0@D',
      'replayed#1@main',
      'delivery-attempted#1/1@D',
      'delivery-attempted#1/2@R',
      'delivered#1/2@R',
      'acknowledged#1@R',
    ]);
    // Inferred: the retry chain's entries, earlier than the dead-letter, count as generation 0.
    expect(historyOf(asOlderVersionWrote(trail)).slice(4, 8)).toEqual([
      'delivery-attempted/1@D',
      'delivery-attempted/2@R',
      'delivered/2@R',
      'acknowledged@R',
    ]);
  });

  it("infers the generation of an older version's entries beside recording ones", () => {
    // Generation 0 written before the upgrade (only its dead-letter records a generation), the
    // replay after it; the older entries keep their inferred generation 0.
    const trail = chained([
      ...INGRESS,
      [DELIVER, 1, 'delivery-attempted', { attempt: 1 }],
      [RETRY, 3, 'delivery-attempted', { attempt: 2 }],
      [RETRY, 3, 'dead-lettered', { attempts: 2, replayGeneration: 0 }],
      ['main', 9, 'replayed', { replayGeneration: 1 }],
      [DELIVER, 7, 'delivery-attempted', { attempt: 1, replayGeneration: 1 }],
      [RETRY, 8, 'delivery-attempted', { attempt: 2, replayGeneration: 1 }],
      [RETRY, 8, 'delivered', { attempt: 2, replayGeneration: 1 }],
    ]);
    expect(historyOf(trail).slice(4)).toEqual([
      'delivery-attempted/1@D',
      'delivery-attempted/2@R',
      'dead-lettered#0@R',
      'replayed#1@main',
      'delivery-attempted#1/1@D',
      'delivery-attempted#1/2@R',
      'delivered#1/2@R',
    ]);
  });

  it('ignores a recorded generation that is not a non-negative integer (inferred instead)', () => {
    const trail = chained([
      ...INGRESS,
      [DELIVER, 1, 'dead-lettered', { attempts: 0, replayGeneration: 0 }],
      ['main', 3, 'replayed', { replayGeneration: 1 }],
      [DELIVER, 2, 'delivered', { attempt: 1, replayGeneration: '1' }],
    ]);
    expect(historyOf(trail).slice(4)).toEqual(['dead-lettered#0@D', 'replayed#1@main', 'delivered#1/1@D']);
  });
});

const key = (e: { chain: string; seq: number }) => `${e.chain}#${e.seq}`;

describe('history order of recorded generations, property', () => {
  it('puts every cause before its effects whatever the clocks of the chains', () => {
    // Rounds 0..n: the first attempt on the deliver topic's chain, later ones on the retry topic's;
    // each round dead-lettered and replayed as the next generation, or, last, delivered. Each
    // chain's writer has a clock of its own, off by up to ±20 ms, steps of 0..2 ms between events.
    const history = fc.record({
      offsets: fc.record({
        main: fc.integer({ min: -20, max: 20 }),
        deliver: fc.integer({ min: -20, max: 20 }),
        retry: fc.integer({ min: -20, max: 20 }),
        ops: fc.integer({ min: -20, max: 20 }),
      }),
      rounds: fc.array(
        fc.record({
          attempts: fc.nat({ max: 3 }),
          step: fc.nat({ max: 2 }),
          replayChain: fc.constantFrom('main', 'a-ops'),
        }),
        { minLength: 1, maxLength: 4 },
      ),
      delivered: fc.boolean(),
      reversed: fc.boolean(),
    });
    let inferredWrong = 0;
    fc.assert(
      fc.property(history, ({ offsets, rounds, delivered, reversed }) => {
        const offset = (chain: string) =>
          chain === DELIVER
            ? offsets.deliver
            : chain === RETRY
              ? offsets.retry
              : chain === 'main'
                ? offsets.main
                : offsets.ops;
        let now = 0;
        const events: Event[] = [];
        /** Generation and attempt (0: none) of each delivery and replay entry, by index in `events`. */
        const cause = new Map<number, { generation: number; attempt: number; replay: boolean }>();
        const at = (
          chain: string,
          kind: AuditEventKind,
          generation: number,
          detail: Record<string, unknown>,
        ) => {
          cause.set(events.length, {
            generation,
            attempt: typeof detail.attempt === 'number' ? detail.attempt : 0,
            replay: kind === 'replayed',
          });
          events.push([chain, now + offset(chain), kind, detail]);
        };
        for (const kind of ['received', 'accepted', 'signed', 'queued'] as const)
          events.push(['main', offsets.main, kind]);
        rounds.forEach((round, g) => {
          let chain = DELIVER;
          for (let a = 1; a <= round.attempts; a++) {
            now += round.step;
            if (a > 1) chain = RETRY;
            at(chain, 'delivery-attempted', g, { attempt: a, replayGeneration: g });
          }
          now += round.step;
          if (g === rounds.length - 1 && delivered) {
            const attempt = Math.max(round.attempts, 1);
            at(chain, 'delivered', g, { attempt, replayGeneration: g });
            at(chain, 'acknowledged', g, { replayGeneration: g });
            return;
          }
          at(chain, 'dead-lettered', g, { attempts: round.attempts, replayGeneration: g });
          if (g < rounds.length - 1) {
            now += round.step;
            at(round.replayChain, 'replayed', g + 1, { replayGeneration: g + 1 });
          }
        });
        const trail = chained(events);
        const respected = (order: AuditEntry[]) => {
          const position = new Map(order.map((e, i) => [key(e), i]));
          const pos = (i: number) => position.get(key(trail[i]!))!;
          for (const [d, c] of cause) {
            for (const i of [0, 1, 2, 3]) if (pos(i) > pos(d)) return false;
            for (const [e, o] of cause) {
              // A replay of generation n follows everything of the generations below n; a delivery
              // entry of generation n follows the replays up to n and the lower attempts of n.
              const before = c.replay
                ? o.generation < c.generation
                : o.replay
                  ? o.generation <= c.generation
                  : o.generation < c.generation ||
                    (o.generation === c.generation && o.attempt > 0 && o.attempt < c.attempt);
              if (before && pos(e) > pos(d)) return false;
            }
          }
          return true;
        };
        const input = reversed ? [...trail].reverse() : trail;
        expect(respected(inCausalOrder(input))).toBe(true);
        if (!respected(inCausalOrder(asOlderVersionWrote(input)))) inferredWrong++;
      }),
      { numRuns: 1000 },
    );
    // The generator does make the inference go wrong: these cases need the recorded generations.
    expect(inferredWrong).toBeGreaterThan(50);
  });
});
