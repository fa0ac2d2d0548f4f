/**
 * The runner of the in-process A/B benches (test/bench/*-ab.ts): the old and the current tree's run,
 * alternately in one process (old first in even rounds, new first in odd ones, so that a drift of
 * the machine's speed or the heap's state favours neither), after one warm-up run of each. Prints
 * every round and the medians per measured key, with the change in per cent.
 */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** This process's CPU time so far (user + system, all threads), in µs. */
export const cpuMicros = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

export interface AlternatingRoundsOptions {
  rounds: number;
  /** Decimals printed per round for keys starting with `cpu` (others: 3). */
  cpuDigits?: number;
}

export async function alternatingRounds<Tree>(
  name: string,
  old: Tree,
  current: Tree,
  run: (tree: Tree) => Promise<Record<string, number>>,
  options: AlternatingRoundsOptions,
): Promise<{ old: Record<string, number>[]; new: Record<string, number>[] }> {
  const results: { old: Record<string, number>[]; new: Record<string, number>[] } = { old: [], new: [] };
  await run(current); // warm-up (JIT, page cache), not counted
  await run(old);
  for (let round = 0; round < options.rounds; round++) {
    const order = round % 2 === 0 ? (['old', 'new'] as const) : (['new', 'old'] as const);
    for (const which of order) {
      const r = await run(which === 'old' ? old : current);
      results[which].push(r);
      console.log(
        `${name} round ${round + 1} ${which}:`,
        Object.entries(r)
          .map(([k, v]) => `${k}=${v.toFixed(k.startsWith('cpu') ? (options.cpuDigits ?? 1) : 3)}`)
          .join(' '),
      );
    }
  }
  console.log(`\n${name}: medians over ${options.rounds} rounds`);
  for (const k of Object.keys(results.old[0]!)) {
    const o = median(results.old.map((r) => r[k]!));
    const n = median(results.new.map((r) => r[k]!));
    console.log(
      `  ${k.padEnd(20)} old ${o.toFixed(3).padStart(9)}  new ${n.toFixed(3).padStart(9)}  ${o === 0 ? '' : `(${(((n - o) / o) * 100).toFixed(1)} %)`}`,
    );
  }
  console.log('');
  return results;
}
