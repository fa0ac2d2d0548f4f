/**
 * `gw start` exactly as `npm start` runs it, so that tests and benches run the gateway under the
 * node flags operators get (the heap limit of package.json's start script), not under bare node.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../gateway/config/load.ts';

/** The arguments after `node` for package.json's start script: its node flags, then bin/gw.js start. */
export function operatorStartArgs(): string[] {
  const packageJson = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));
  const script: string = packageJson.scripts.start;
  const [command, ...args] = script.split(/\s+/);
  if (command !== 'node' || args.at(-2) !== 'bin/gw.js' || args.at(-1) !== 'start') {
    throw new Error(`package.json start script is not "node [flags] bin/gw.js start": ${script}`);
  }
  return [...args.slice(0, -2), path.join(REPO_ROOT, 'bin/gw.js'), 'start'];
}
