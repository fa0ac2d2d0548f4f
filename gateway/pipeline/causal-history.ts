/**
 * A message's audit trail in causal order: the status API's history (status.ts), read by senders
 * and auditors, must not show an effect before its cause. The clock alone does not give that order:
 * the processes append to their own chains, and several entries are appended after what they
 * caused — the ingress's after its publish, `replayed` after its republish — so the partition
 * chains' delivery entries can carry an earlier time, or the same millisecond and a chain name
 * that sorts first.
 *
 * The order: each chain's entries in seq order, merged by time (then chain, then seq, as
 * inEventOrder), except that an entry waits for the entries it is known to follow:
 * - a delivery entry (on a partition chain, delivery-audit.ts; or a `delivery-attempted` or
 *   `dead-lettered` anywhere) follows the ingress's entries (INGRESS_KINDS, off the partition
 *   chains): the message was on the bus before they were written, but they record how it got there;
 * - a delivery entry of replay generation n follows the `replayed` entries of generations 1..n;
 *   a `replayed` of generation n follows the ingress's entries, the replays of lower generations
 *   and the dead-letters of lower generations (the one it answers among them);
 * - within one generation, a delivery entry with a lower `detail.attempt` precedes one with a
 *   higher (an attempt counter only grows within a generation; a replay starts it again);
 * - a `fetched` or `acknowledged` off the partition chains (the receiver's pull) follows the
 *   message's first `delivered`: the receiver can only take what reached its inbox.
 * `replayed` and every delivery entry record their generation (detail.replayGeneration: `replayed`
 * in dead-letters.ts, the delivery entries from the bus record's header in delivery.ts), and that is
 * the generation they are ordered by: the clocks of the processes writing the chains may be off,
 * and a replay can be attempted in the millisecond of the dead-letter it answers. Delivery entries
 * written by older versions, of which only `dead-lettered` recorded it, take theirs from the
 * dead-letters before them: one more than the highest generation dead-lettered earlier on their own
 * chain (by seq) or on another chain at an earlier millisecond (by time: a replay needs an operator
 * to see the dead-letter first), else 0. The audit trail is append-only, so such entries stay and
 * may sit beside recording ones. Entries from before generations existed record none and so keep
 * the time order among themselves. Should entries contradict each other (a clock far off)
 * so that no chain's next entry has all its causes placed, the earliest of them comes next.
 * The order depends only on the set of entries, not on the order a store returns them in.
 */
import { INGRESS_KINDS, inEventOrder } from '../audit/message-summary.ts';
import type { AuditEntry } from '../ports/audit-store.ts';
import { isPartitionChain } from './delivery-audit.ts';

type Ordered = Pick<AuditEntry, 'time' | 'chain' | 'seq' | 'kind' | 'detail'>;

const isDelivery = (e: Ordered) =>
  isPartitionChain(e.chain) || e.kind === 'delivery-attempted' || e.kind === 'dead-lettered';

const isIngress = (e: Ordered) => INGRESS_KINDS.has(e.kind) && !isPartitionChain(e.chain);

/**
 * The replay generation a `replayed` or delivery entry records. Not message-summary.ts's
 * recordedReplayGeneration: the fold reads it of `replayed` and `dead-lettered` only.
 */
function recordedGeneration(e: Ordered): number | null {
  if (e.kind !== 'replayed' && !isDelivery(e)) return null;
  const generation = e.detail?.replayGeneration;
  return typeof generation === 'number' && Number.isSafeInteger(generation) && generation >= 0
    ? generation
    : null;
}

function attemptOf(e: Ordered): number | null {
  const attempt = e.detail?.attempt;
  return typeof attempt === 'number' && Number.isSafeInteger(attempt) ? attempt : null;
}

export function inCausalOrder<E extends Ordered>(trail: readonly E[]): E[] {
  const n = trail.length;
  const byInput = [...trail.keys()];
  const recorded = trail.map(recordedGeneration);
  const deadLetters = byInput.filter((i) => trail[i]!.kind === 'dead-lettered' && recorded[i] !== null);
  const generation = trail.map((e, i) => {
    if (recorded[i] !== null || !isDelivery(e)) return recorded[i] ?? null;
    // Written before delivery entries recorded their generation: inferred.
    let inferred = 0;
    for (const d of deadLetters) {
      const dl = trail[d]!;
      const before = dl.chain === e.chain ? dl.seq < e.seq : dl.time < e.time;
      if (before) inferred = Math.max(inferred, recorded[d]! + 1);
    }
    return inferred;
  });
  const ingress = byInput.filter((i) => isIngress(trail[i]!));
  const replays = byInput.filter((i) => trail[i]!.kind === 'replayed' && generation[i] !== null);
  const deliveries = byInput.filter((i) => isDelivery(trail[i]!));
  // Per generation, the delivery entries by attempt: an entry waits only for those of the next lower
  // attempt present (the rest follow transitively), so a long retry history stays linear in causes.
  const byAttempt = new Map<number | null, Map<number, number[]>>();
  for (const d of deliveries) {
    const attempt = attemptOf(trail[d]!);
    if (attempt === null) continue;
    let attempts = byAttempt.get(generation[d] ?? null);
    if (!attempts) {
      attempts = new Map();
      byAttempt.set(generation[d] ?? null, attempts);
    }
    const same = attempts.get(attempt);
    if (same) same.push(d);
    else attempts.set(attempt, [d]);
  }
  const sortedAttempts = new Map<number | null, number[]>();
  for (const [gen, attempts] of byAttempt)
    sortedAttempts.set(
      gen,
      [...attempts.keys()].sort((a, b) => a - b),
    );
  const previousAttempt = (gen: number | null, attempt: number): number[] => {
    const sorted = sortedAttempts.get(gen);
    if (!sorted) return [];
    let lo = 0;
    let hi = sorted.length; // the first attempt >= `attempt` is at `lo` when the search ends
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]! < attempt) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? [] : byAttempt.get(gen)!.get(sorted[lo - 1]!)!;
  };
  const firstDelivered = byInput
    .filter((i) => trail[i]!.kind === 'delivered')
    .sort((a, b) => inEventOrder(trail[a]!, trail[b]!))[0];

  // What each entry waits for on other chains; its own chain's order is kept by merging.
  const causes = trail.map((e, i): number[] => {
    const found: number[] = [];
    const gen = generation[i] ?? null;
    if (isDelivery(e)) {
      found.push(...ingress);
      for (const r of replays) if (generation[r]! <= gen!) found.push(r);
      const attempt = attemptOf(e);
      if (attempt !== null) found.push(...previousAttempt(gen, attempt));
    } else if (e.kind === 'replayed' && gen !== null) {
      found.push(...ingress);
      for (const r of replays) if (generation[r]! < gen) found.push(r);
      for (const d of deadLetters) if (generation[d]! < gen) found.push(d);
    } else if ((e.kind === 'fetched' || e.kind === 'acknowledged') && firstDelivered !== undefined) {
      found.push(firstDelivered);
    }
    return found.filter((c) => trail[c]!.chain !== e.chain);
  });

  const chains = new Map<string, number[]>();
  for (const i of byInput) {
    const chain = chains.get(trail[i]!.chain);
    if (chain) chain.push(i);
    else chains.set(trail[i]!.chain, [i]);
  }
  const queues = [...chains.values()].map((q) => q.sort((a, b) => trail[a]!.seq - trail[b]!.seq));
  const heads = queues.map(() => 0);
  const placed = new Array<boolean>(n).fill(false);
  const ordered: E[] = [];
  while (ordered.length < n) {
    let next = -1;
    let earliest = -1;
    for (let q = 0; q < queues.length; q++) {
      const entry = queues[q]![heads[q]!];
      if (entry === undefined) continue;
      if (earliest < 0 || inEventOrder(trail[entry]!, trail[queues[earliest]![heads[earliest]!]!]!) < 0) {
        earliest = q;
      }
      const ready = causes[entry]!.every((c) => placed[c]);
      if (ready && (next < 0 || inEventOrder(trail[entry]!, trail[queues[next]![heads[next]!]!]!) < 0)) {
        next = q;
      }
    }
    const q = next >= 0 ? next : earliest;
    const entry = queues[q]![heads[q]!]!;
    heads[q] = heads[q]! + 1;
    placed[entry] = true;
    ordered.push(trail[entry]!);
  }
  return ordered;
}
