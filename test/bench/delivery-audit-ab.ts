/**
 * In-process A/B of DeliveryAuditChains.of against an earlier tree: the delivery stage calls it for
 * every audit event it records (pipeline/delivery.ts), so its cost is per delivery event. Records as
 * the consumers hand them out — the deliver and retry topics of a few systems (two whose ids share a
 * prefix), 16 partitions each, in a shuffled order — with one topic string per topic-partition, as
 * both buses give every record of a partition worker (SQLite) or a fetched batch (Kafka) the same
 * one. Before measuring, both trees must give every record the same chain name. The AuditLog is a
 * stub whose withChain only remembers the name: CPU is process.cpuUsage over the calls alone.
 *
 *   git archive <rev> gateway adapters standards | tar -x -C DIR && ln -s "$PWD/node_modules" DIR/node_modules
 *   node --import tsx test/bench/delivery-audit-ab.ts --baseline DIR [--rounds 7] [--calls 5000000]
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { deliverTopic, retryTopic } from '../../gateway/bus/topics.ts';
import type * as DeliveryAuditModule from '../../gateway/pipeline/delivery-audit.ts';
import type { ConsumedRecord } from '../../gateway/ports/bus.ts';
import { alternatingRounds, cpuMicros } from './support/alternating-rounds.ts';

const { values: args } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '7' },
    calls: { type: 'string', default: '5000000' },
  },
});
if (!args.baseline) throw new Error('--baseline DIR (an earlier tree with node_modules linked) is required');
const ROUNDS = Number(args.rounds);
const CALLS = Number(args.calls);
const REPO = path.resolve(import.meta.dirname, '../..');

type Tree = typeof DeliveryAuditModule;
const load = async (root: string): Promise<Tree> =>
  (await import(pathToFileURL(path.join(root, 'gateway/pipeline/delivery-audit.ts')).href)) as Tree;

const SYSTEMS = ['st-melde', 'st-melde-test', 'sn-kfz', 'by-elterngeld'];
const PARTITIONS = 16;
const workers = SYSTEMS.flatMap((system) =>
  [deliverTopic('gw', system), retryTopic('gw', system)].flatMap((topic) =>
    Array.from({ length: PARTITIONS }, (_, partition) => ({ system, topic, partition })),
  ),
);

/** The calls one run makes: a fixed pseudo-random order, so both trees see the same sequence. */
const calls: { system: string; record: ConsumedRecord }[] = [];
let seed = 42;
for (let i = 0; i < CALLS; i++) {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  const w = workers[seed % workers.length]!;
  calls.push({ system: w.system, record: { topic: w.topic, partition: w.partition } as ConsumedRecord });
}

type Chains = InstanceType<Tree['DeliveryAuditChains']>;
const chainsOf = (tree: Tree): Chains =>
  new tree.DeliveryAuditChains({ withChain: (chain: string) => ({ chain }) } as never);
const nameOf = (chains: Chains, call: (typeof calls)[number]) =>
  (chains.of(call.system, call.record) as unknown as { chain: string }).chain;

async function run(tree: Tree): Promise<Record<string, number>> {
  const chains = chainsOf(tree);
  let sink = 0;
  const started = cpuMicros();
  for (const call of calls) if (chains.of(call.system, call.record) !== undefined) sink++;
  const cpu = cpuMicros() - started;
  if (sink !== CALLS) throw new Error('unreachable');
  return { cpuNsPerOf: (cpu * 1000) / CALLS };
}

const old = await load(path.resolve(args.baseline));
const current = await load(REPO);
const [a, b] = [chainsOf(old), chainsOf(current)];
for (const call of calls.slice(0, 100_000)) {
  if (nameOf(a, call) !== nameOf(b, call)) throw new Error(`chain names differ for ${call.record.topic}`);
}
await alternatingRounds('delivery-audit of()', old, current, run, { rounds: ROUNDS, cpuDigits: 2 });
