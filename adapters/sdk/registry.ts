/**
 * Adapters are found, not listed: every folder under adapters/ with an `adapter.ts` default-exporting
 * an Adapter is registered under its spec id. Adding a system means adding a folder (and a
 * directory/contract entry) — no core file changes. Extra adapters (e.g. from another package or a
 * test) can be registered programmatically with register().
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Adapter } from './adapter.ts';

export const ADAPTERS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export class AdapterRegistry {
  private readonly adapters = new Map<string, Adapter>();

  register(adapter: Adapter): void {
    const { id } = adapter.spec;
    if (this.adapters.has(id)) throw new Error(`adapter ${id} is registered twice`);
    this.adapters.set(id, adapter);
  }

  get(id: string): Adapter | undefined {
    return this.adapters.get(id);
  }

  all(): Adapter[] {
    return [...this.adapters.values()];
  }
}

function isAdapter(value: unknown): value is Adapter {
  const v = value as Adapter | undefined;
  return (
    !!v && typeof v.decode === 'function' && typeof v.encode === 'function' && typeof v.spec?.id === 'string'
  );
}

/** Imports `<dir>/<name>/adapter.ts` for every sub-folder except sdk/. */
export async function discoverAdapters(
  dir: string = ADAPTERS_DIR,
  registry = new AdapterRegistry(),
): Promise<AdapterRegistry> {
  const folders = readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== 'sdk' && !d.name.startsWith('.'))
    .map((d) => d.name)
    .sort();
  for (const folder of folders) {
    const file = path.join(dir, folder, 'adapter.ts');
    if (!existsSync(file)) continue;
    const mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
    if (!isAdapter(mod.default))
      throw new Error(`${file} does not default-export an adapter (use defineAdapter)`);
    if (mod.default.spec.id !== folder)
      throw new Error(`${file}: spec.id ${mod.default.spec.id} differs from its folder name`);
    registry.register(mod.default);
  }
  return registry;
}
