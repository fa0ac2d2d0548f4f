/**
 * In-process A/B of the ingress's per-message CPU against an earlier tree: the sending adapter's
 * decode, validation (zod + code lists) and the canonical XÖV XML, on the bench workload's payloads
 * (test/bench/workload.ts). Old and new run alternately in this one process, several rounds; CPU is
 * this thread's (process.cpuUsage, no worker threads are involved). Before timing, every payload's
 * canonical XML from both trees is compared byte for byte: a difference aborts the bench.
 *
 *   git archive HEAD gateway adapters standards | tar -x -C DIR && ln -s "$PWD/node_modules" DIR/node_modules
 *   node --import tsx test/bench/ingress-ab.ts --baseline DIR [--rounds 7] [--messages 3000]
 *        [--only new] [--cpu-prof-loops N]
 *
 * --adapters ID,ID: instead of the mix, every `fixtures/*.native.*` of those adapters, round robin
 * (for adapters the mix does not send, e.g. th-kfz, sn-kfz; the canonical XML check still applies).
 *
 * Order bias: two separate copies of one tree (--baseline A --tree B, B a second `git archive`) read
 * 0.93-0.97, not 1.00 — the tree given as --tree runs faster. For small differences run both ways
 * (swap the trees) and take sqrt(ratio / swapped ratio).
 *
 * --only new skips the baseline (for profiling with --cpu-prof; --cpu-prof-loops repeats the set);
 * --tree DIR makes that tree the one run alone (default: this one).
 *
 * --cold REPS measures from a cold start instead: REPS pairs of fresh processes, old and new
 * alternately, each running --messages through once; the process's whole CPU (JIT compiler threads
 * included) per message, for a first third and for the rest. The warm rounds above hide what
 * generated code costs to compile; a short benchmark run or a fresh process pays it.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { AdapterContext } from '../../adapters/sdk/adapter.ts';
import type * as RegistryModule from '../../adapters/sdk/registry.ts';
import { discoverAdapters } from '../../adapters/sdk/registry.ts';
import { contentTypeOf, mediaType } from '../../adapters/sdk/testkit.ts';
import type * as CatalogueModule from '../../standards/index.ts';
import type * as CodecModule from '../../standards/xoev/xml-codec.ts';
import { cpuMicros, median } from './support/alternating-rounds.ts';
import { mixedPayloads } from './workload.ts';

const { values: args } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '7' },
    messages: { type: 'string', default: '3000' },
    only: { type: 'string' },
    'cpu-prof-loops': { type: 'string', default: '1' },
    tree: { type: 'string' },
    cold: { type: 'string' },
    adapters: { type: 'string' },
  },
});
const ROUNDS = Number(args.rounds);
const MESSAGES = Number(args.messages);
const REPO = path.resolve(import.meta.dirname, '../..');
if (!args.baseline && args.only !== 'new') throw new Error('--baseline DIR (or --only new) is required');

async function loadTree(root: string) {
  const at = (p: string) => pathToFileURL(path.join(root, p)).href;
  const registry = (await import(at('adapters/sdk/registry.ts'))) as typeof RegistryModule;
  const codec = (await import(at('standards/xoev/xml-codec.ts'))) as typeof CodecModule;
  const { catalogue } = (await import(at('standards/index.ts'))) as typeof CatalogueModule;
  const adapters = await registry.discoverAdapters(path.join(root, 'adapters'));
  // Deterministic, so that both trees write the same bytes for the same payload.
  let uuids = 0;
  const context: AdapterContext = {
    newUUID: () => `00000000-0000-4000-8000-${(uuids++).toString(16).padStart(12, '0')}`,
    now: () => new Date('2026-01-02T03:04:05.678Z'),
    messageType(standard, version, name) {
      const spec = catalogue.messageType(standard, version, name);
      if (!spec) throw new Error(`${standard} ${version} ${name} is not in the catalogue`);
      return spec;
    },
  };
  return { adapters, codec, context, resetUUIDs: () => (uuids = 0) };
}
type Tree = Awaited<ReturnType<typeof loadTree>>;

/** The native fixtures of `ids`, round robin up to MESSAGES (--adapters). */
async function fixturePayloads(ids: string[]) {
  const installed = await discoverAdapters(path.join(REPO, 'adapters'));
  const files = ids.flatMap((id) => {
    const adapter = installed.get(id);
    if (!adapter) throw new Error(`adapter ${id} is not installed`);
    const dir = path.join(REPO, 'adapters', id, 'fixtures');
    return readdirSync(dir)
      .filter((f) => f.includes('.native.'))
      .map((f) => ({
        systemId: id,
        contentType: mediaType(contentTypeOf(path.join(dir, f), adapter)),
        body: readFileSync(path.join(dir, f)),
      }));
  });
  return Array.from({ length: MESSAGES }, (_, i) => files[i % files.length]!);
}

const payloads = args.adapters
  ? await fixturePayloads(args.adapters.split(','))
  : mixedPayloads(MESSAGES).map((p) => ({
      ...p,
      body: Buffer.from(p.body, 'utf8'),
    }));

/**
 * decode → validate → canonical XML, as the ingress runs them; returns the XML of every message
 * when `keep` (else nothing is kept: the ingress hands each document to the signer and lets go).
 */
function ingest(
  tree: Tree,
  stages: { decode: number; validate: number; xml: number } | undefined,
  keep: boolean,
) {
  const out: string[] = [];
  let bytes = 0;
  tree.resetUUIDs();
  for (const p of payloads) {
    const adapter = tree.adapters.get(p.systemId)!;
    const t0 = stages ? cpuMicros() : 0;
    const decoded = adapter.decode({ body: p.body, contentType: p.contentType }, tree.context);
    const t1 = stages ? cpuMicros() : 0;
    const valid = decoded.map((d) => ({
      spec: d.spec,
      message: tree.codec.validateMessage(d.spec, d.message),
    }));
    const t2 = stages ? cpuMicros() : 0;
    for (const v of valid) {
      const xml = tree.codec.toCanonicalXml(v.spec, v.message);
      if (keep) out.push(xml);
      else bytes += xml.length;
    }
    if (stages) {
      const t3 = cpuMicros();
      stages.decode += t1 - t0;
      stages.validate += t2 - t1;
      stages.xml += t3 - t2;
    }
  }
  if (bytes === 0 && !keep) throw new Error('no XML written');
  return out;
}

function timed(tree: Tree): number {
  const before = cpuMicros();
  ingest(tree, undefined, false);
  return (cpuMicros() - before) / payloads.length;
}

if (args.cold) {
  if (!args.baseline) throw new Error('--cold needs --baseline DIR');
  const chunk = Math.max(1, Math.floor(MESSAGES / 30));
  const run = (tree: string): { first: number; rest: number } => {
    const out = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        import.meta.filename,
        '--only',
        'new',
        '--tree',
        tree,
        '--messages',
        String(chunk),
        '--cpu-prof-loops',
        '30',
      ],
      { encoding: 'utf8' },
    );
    const loops = [...out.matchAll(/new: ([\d.]+) µs/g)].map((m) => Number(m[1]));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    return { first: mean(loops.slice(0, 10)), rest: mean(loops.slice(10)) };
  };
  const cold = { old: [] as { first: number; rest: number }[], new: [] as { first: number; rest: number }[] };
  for (let r = 0; r < Number(args.cold); r++) {
    const order: Array<['old' | 'new', string]> = [
      ['old', path.resolve(args.baseline)],
      ['new', REPO],
    ];
    if (r % 2 === 1) order.reverse();
    for (const [name, tree] of order) cold[name].push(run(tree));
    const last = (name: 'old' | 'new') => cold[name].at(-1)!;
    console.log(
      `cold ${r + 1}: old ${last('old').first.toFixed(0)} then ${last('old').rest.toFixed(0)} µs/message, new ${last('new').first.toFixed(0)} then ${last('new').rest.toFixed(0)}`,
    );
  }
  const m = (name: 'old' | 'new', part: 'first' | 'rest') =>
    median(cold[name].map((c) => c[part])).toFixed(0);
  console.log(
    `cold medians over ${args.cold} pairs (first ${chunk * 10} messages / next ${chunk * 20}): old ${m('old', 'first')} / ${m('old', 'rest')} µs/message, new ${m('new', 'first')} / ${m('new', 'rest')}`,
  );
  process.exit(0);
}

const current = await loadTree(args.tree ? path.resolve(args.tree) : REPO);
if (args.only === 'new') {
  const loops = Number(args['cpu-prof-loops']);
  for (let i = 0; i < loops; i++) console.log(`new: ${timed(current).toFixed(1)} µs/message`);
  process.exit(0);
}
const baseline = await loadTree(path.resolve(args.baseline!));

// Same bytes from both trees, before anything is timed.
{
  const a = ingest(baseline, undefined, true);
  const b = ingest(current, undefined, true);
  if (a.length !== b.length) throw new Error(`message count differs: ${a.length} vs ${b.length}`);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) throw new Error(`canonical XML of payload ${i} differs between the trees`);
  }
  console.log(`${a.length} messages: canonical XML identical in both trees`);
}

// Warm-up, then alternating rounds (the order flips every round).
for (let i = 0; i < 2; i++) {
  timed(baseline);
  timed(current);
}
const results = { old: [] as number[], new: [] as number[] };
for (let r = 0; r < ROUNDS; r++) {
  const order: Array<['old' | 'new', Tree]> = [
    ['old', baseline],
    ['new', current],
  ];
  if (r % 2 === 1) order.reverse();
  for (const [name, tree] of order) results[name].push(timed(tree));
  console.log(
    `round ${r + 1}: old ${results.old.at(-1)!.toFixed(1)} µs/message, new ${results.new.at(-1)!.toFixed(1)} µs/message`,
  );
}
const stagesOf = (tree: Tree) => {
  const s = { decode: 0, validate: 0, xml: 0 };
  ingest(tree, s, false);
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, (v / payloads.length).toFixed(1)]));
};
const mOld = median(results.old);
const mNew = median(results.new);
// The machine is shared: a round's pair ran back to back, so its ratio is steadier than either number.
const ratio = median(results.new.map((n, i) => n / results.old[i]!));
console.log(
  `median over ${ROUNDS} rounds of ${MESSAGES}: old ${mOld.toFixed(1)} µs/message, new ${mNew.toFixed(1)} µs/message; median new/old per round ${ratio.toFixed(3)}`,
);
console.log('stages (µs/message, one extra pass each):', { old: stagesOf(baseline), new: stagesOf(current) });
