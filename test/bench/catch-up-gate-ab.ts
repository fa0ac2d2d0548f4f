/**
 * In-process A/B of the audit listener's callback path once the start-up catch-up is done: before
 * the gate (catch-up-gate.ts) the listener called the takeover check and the hand-over directly;
 * now it goes through CatchUpGate.admit: one map look-up of the chain's covered range for
 * LATE_LISTENER_MS after the catch-up (`--window`), one check after that (default). The same
 * real ChainTakeovers and a hand-over that only counts in both; entries as in chain-takeovers-ab.ts
 * (partition chains round robin, every fourth on 'main', seqs after what the catch-up covered).
 *
 *   node --import tsx test/bench/catch-up-gate-ab.ts [--rounds 9] [--entries 2000000] [--window]
 */
import { parseArgs } from 'node:util';
import { CatchUpGate } from '../../gateway/callbacks/catch-up-gate.ts';
import { ChainTakeovers } from '../../gateway/callbacks/chain-takeovers.ts';
import type { AuditEntry } from '../../gateway/ports/audit-store.ts';
import { alternatingRounds, cpuMicros } from './support/alternating-rounds.ts';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '9' },
    entries: { type: 'string', default: '2000000' },
    window: { type: 'boolean', default: false },
  },
});
const ENTRIES = Number(args.entries);
const COVERED = 1000;

const CHAINS = ['st-melde', 'sn-melde', 'sn-kfz', 'by-elterngeld'].flatMap((system) =>
  Array.from({ length: 16 }, (_, p) => `delivery.${system}.${p}`),
);
const prepared: AuditEntry[] = [];
{
  const next = new Map<string, number>();
  for (let i = 0; i < ENTRIES; i++) {
    const chain = i % 4 === 3 ? 'main' : CHAINS[i % CHAINS.length]!;
    const seq = (next.get(chain) ?? COVERED) + 1;
    next.set(chain, seq);
    prepared.push({ chain, seq } as AuditEntry);
  }
}

const untouched = () => {
  throw new Error('the hot path read a store');
};
type Variant = 'direct' | 'gate';

async function run(variant: Variant): Promise<Record<string, number>> {
  let handed = 0;
  const handOver = () => {
    handed++;
  };
  const takeovers = new ChainTakeovers({
    store: { query: untouched } as never,
    watermarks: { markLagMs: 1100, storedMark: untouched, publishing: untouched } as never,
    handOver: untouched,
    logger: { warn: untouched, error: untouched } as never,
  });
  const gate = new CatchUpGate({
    pass: (entry) => {
      takeovers.appended(entry);
      handOver();
    },
    logger: { warn: untouched } as never,
    lateListenerMs: args.window ? 600_000 : 0,
  });
  // What the catch-up covered: every chain up to COVERED, then done.
  for (const chain of [...CHAINS, 'main']) {
    takeovers.caughtUp(chain, COVERED);
    gate.caughtUp(chain, COVERED - 10, COVERED);
  }
  gate.openAll();
  await new Promise((resolve) => setTimeout(resolve, 5));
  const listener =
    variant === 'gate'
      ? (entry: AuditEntry) => gate.admit(entry)
      : (entry: AuditEntry) => {
          takeovers.appended(entry);
          handOver();
        };
  const started = cpuMicros();
  for (const entry of prepared) listener(entry);
  const cpu = cpuMicros() - started;
  if (handed !== ENTRIES) throw new Error(`handed ${handed} of ${ENTRIES}`);
  await takeovers.idle();
  return { cpuNsPerEntry: (cpu * 1000) / ENTRIES };
}

await alternatingRounds<Variant>('listener callback path', 'direct', 'gate', run, {
  rounds: Number(args.rounds),
  cpuDigits: 2,
});
