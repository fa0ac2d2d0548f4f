/**
 * `gw adapter test [id]` runs the adapter test kit (fixtures and the property-based round trip)
 * for one adapter or all of them and prints a result table; exit code 1 if any check fails.
 * `gw adapter new <id>` scaffolds a working adapter folder. Both work on the repository's adapters/
 * or, with --dir, on any folder of adapter folders.
 */
import path from 'node:path';
import { Command } from 'commander';
import type { Adapter } from '../../../adapters/sdk/adapter.ts';
import { ADAPTERS_DIR, discoverAdapters } from '../../../adapters/sdk/registry.ts';
import type { FixtureResult } from '../../../adapters/sdk/testkit.ts';
import { GatewayError } from '../../errors/catalogue.ts';

export interface AdapterTestOptions {
  dir?: string;
  runs?: number;
  seed?: number;
  print?: (line: string) => void;
}

export interface AdapterTestRow extends FixtureResult {
  adapter: string;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) =>
    r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  '),
  );
}

/** Runs the kit; returns every row (the caller decides the exit code). */
export async function runAdapterTests(
  id: string | undefined,
  options: AdapterTestOptions = {},
): Promise<AdapterTestRow[]> {
  const print = options.print ?? ((line: string) => console.log(line));
  const dir = path.resolve(options.dir ?? ADAPTERS_DIR);
  // The kit pulls in fast-check; loaded here, never on the server's path.
  const { runAdapterKit } = await import('../../../adapters/sdk/kit.ts');
  const registry = await discoverAdapters(dir);
  let adapters: Adapter[] = registry.all();
  if (id) {
    const one = registry.get(id);
    if (!one) {
      throw new GatewayError(
        'GW_ERR_NOT_FOUND',
        `no adapter ${id} in ${dir} (found: ${adapters.map((a) => a.spec.id).join(', ') || 'none'})`,
      );
    }
    adapters = [one];
  }
  const rows: AdapterTestRow[] = [];
  for (const adapter of adapters) {
    const started = Date.now();
    const results = runAdapterKit(adapter, path.join(dir, adapter.spec.id), {
      runs: options.runs,
      seed: options.seed,
    });
    rows.push(...results.map((r) => ({ ...r, adapter: adapter.spec.id })));
    const failed = results.filter((r) => !r.ok).length;
    print(
      `${adapter.spec.id}: ${results.length - failed}/${results.length} checks passed (${Date.now() - started} ms)`,
    );
  }
  print('');
  for (const line of table([
    ['adapter', 'case', 'check', 'result'],
    ...rows.map((r) => [
      r.adapter,
      r.name,
      r.check,
      r.ok ? (r.detail ? `ok (${r.detail})` : 'ok') : `FAILED: ${r.detail ?? ''}`,
    ]),
  ]))
    print(line);
  const failed = rows.filter((r) => !r.ok).length;
  print('');
  print(failed === 0 ? `all ${rows.length} checks passed` : `${failed} of ${rows.length} checks FAILED`);
  for (const adapter of adapters) {
    if (!adapter.roundTrip) continue;
    print(`${adapter.spec.id} round-trip constraints: ${adapter.roundTrip.constraints.join('; ')}`);
  }
  return rows;
}

export async function adapterTestCommand(
  id: string | undefined,
  options: { dir?: string; runs?: string; seed?: string },
): Promise<void> {
  const rows = await runAdapterTests(id, {
    dir: options.dir,
    runs: options.runs ? Number(options.runs) : undefined,
    seed: options.seed ? Number(options.seed) : undefined,
  });
  if (rows.some((r) => !r.ok)) process.exitCode = 1;
}

export async function adapterNewCommand(
  id: string,
  options: { dir?: string; title?: string; land?: string; type?: string[] },
): Promise<void> {
  const { scaffoldAdapter } = await import('../../../adapters/sdk/scaffold.ts');
  const result = await scaffoldAdapter({
    id,
    adaptersDir: options.dir,
    title: options.title,
    land: options.land,
    messageTypes: options.type && options.type.length > 0 ? options.type : undefined,
  });
  const rel = (p: string) => path.relative(process.cwd(), p) || '.';
  console.log(`created ${rel(result.dir)}:`);
  for (const file of result.files) console.log(`  ${rel(file)}`);
  console.log(`
Next:
  1. gw adapter test ${id}${options.dir ? ` --dir ${rel(options.dir)}` : ''}     (passes as scaffolded)
  2. rename the native fields in ${rel(path.join(result.dir, 'adapter.ts'))} to the system's own, update the fixtures, keep the test green
  3. register the system: an entry in contracts/directory.yaml (adapter: ${id}) and a rule in a contracts/*.contract.yaml
     (see adapters/README.md, "Register the system")`);
}

/** `gw adapter …`, added to the program by gw.ts. */
export function adapterCommand(): Command {
  const adapter = new Command('adapter').description('the adapter SDK: test kit and scaffold');
  adapter
    .command('test')
    .description('run the adapter test kit (fixtures + property-based round trip); exit 1 on any failure')
    .argument('[id]', 'one adapter (default: all)')
    .option('--dir <dir>', 'folder of adapter folders (default: the repository adapters/)')
    .option('--runs <n>', 'property-based round trips per message type (default 100)')
    .option('--seed <n>', 'fast-check seed, to replay a failure')
    .action((id: string | undefined, options: { dir?: string; runs?: string; seed?: string }) =>
      adapterTestCommand(id, options),
    );
  adapter
    .command('new')
    .description('scaffold a working adapter folder (spec, declarative mapping, fixtures, test)')
    .argument('<id>', 'system id, e.g. bb-melde')
    .option('--dir <dir>', 'folder of adapter folders (default: the repository adapters/)')
    .option('--title <title>', 'the system, e.g. "Meldewesen Brandenburg"')
    .option('--land <code>', 'Land code (SN, ST, TH, …) or BUND', 'BUND')
    .option(
      '--type <id...>',
      'catalogue ids of the message types, e.g. xmeld:25.11:rueckmeldung.anmeldunginland.0201 (default)',
    )
    .action((id: string, options: { dir?: string; title?: string; land?: string; type?: string[] }) =>
      adapterNewCommand(id, options),
    );
  return adapter;
}
