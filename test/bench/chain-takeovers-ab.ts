/**
 * In-process A/B of ChainTakeovers.appended against an earlier tree: the audit listener calls it
 * for every entry (message-follow-ups.ts), so its cost is per audit event. Entries as the delivery
 * stage appends them — round robin over the partition chains of a few systems, each chain's seqs
 * contiguous (this process alone on its partitions: the hot case) — and every fourth on 'main'.
 * No store is read in either tree (checked); CPU is process.cpuUsage over the calls alone.
 *
 *   git archive <rev> gateway adapters standards | tar -x -C DIR && ln -s "$PWD/node_modules" DIR/node_modules
 *   node --import tsx test/bench/chain-takeovers-ab.ts --baseline DIR [--rounds 7] [--entries 2000000]
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type * as ChainTakeoversModule from '../../gateway/callbacks/chain-takeovers.ts';
import type { AuditEntry } from '../../gateway/ports/audit-store.ts';
import { alternatingRounds, cpuMicros } from './support/alternating-rounds.ts';

const { values: args } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '7' },
    entries: { type: 'string', default: '2000000' },
  },
});
if (!args.baseline) throw new Error('--baseline DIR (an earlier tree with node_modules linked) is required');
const ROUNDS = Number(args.rounds);
const ENTRIES = Number(args.entries);
const REPO = path.resolve(import.meta.dirname, '../..');

type Tree = typeof ChainTakeoversModule;
const load = async (root: string): Promise<Tree> =>
  (await import(pathToFileURL(path.join(root, 'gateway/callbacks/chain-takeovers.ts')).href)) as Tree;

const CHAINS = [
  ...['st-melde', 'sn-melde', 'sn-kfz', 'by-elterngeld'].flatMap((system) =>
    Array.from({ length: 16 }, (_, p) => `delivery.${system}.${p}`),
  ),
];

/** The entries one run hands to appended(): only chain and seq are read. */
function entries(): AuditEntry[] {
  const next = new Map<string, number>();
  const out: AuditEntry[] = [];
  for (let i = 0; i < ENTRIES; i++) {
    const chain = i % 4 === 3 ? 'main' : CHAINS[i % CHAINS.length]!;
    const seq = (next.get(chain) ?? 0) + 1;
    next.set(chain, seq);
    out.push({ chain, seq } as AuditEntry);
  }
  return out;
}
const prepared = entries();

const untouched = () => {
  throw new Error('the hot path read a store');
};
const deps = {
  store: { query: untouched } as never,
  watermarks: { markLagMs: 1100, storedMark: untouched, hold: untouched, publishing: untouched } as never,
  handOver: untouched,
  logger: { warn: untouched, error: untouched } as never,
};

async function run(tree: Tree): Promise<Record<string, number>> {
  const takeovers = new tree.ChainTakeovers(deps);
  const started = cpuMicros();
  for (const entry of prepared) takeovers.appended(entry);
  const cpu = cpuMicros() - started;
  await takeovers.idle();
  return { cpuNsPerEntry: (cpu * 1000) / ENTRIES };
}

const old = await load(path.resolve(args.baseline));
const current = await load(REPO);
await alternatingRounds('chain-takeovers appended()', old, current, run, { rounds: ROUNDS, cpuDigits: 2 });
