/** Temporary directories of one test file, removed together when it is done. */
import { rmSync } from 'node:fs';
import { tempDir } from '../../support/gateway.ts';

const dirs: string[] = [];

export function scratchDir(label: string): string {
  const dir = tempDir(label);
  dirs.push(dir);
  return dir;
}

export function removeScratchDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
