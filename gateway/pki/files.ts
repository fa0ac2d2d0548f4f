/**
 * File discipline of the PKI directory, shared by the server and the `gw pki` commands that run
 * beside it: atomic writes (a reader — the running server's watcher — sees the old file or the new
 * one, never half of either), private modes, and one lock directory so that two processes never
 * change the PKI at the same time.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GatewayError } from '../errors/catalogue.ts';

const LOCK_STALE_MS = 60_000;
const LOCK_WAIT_MS = 30_000;

/** Writes `content` to `file` via a temporary file and rename(2); mode 0600. */
export function writeAtomic(file: string, content: string | Buffer): void {
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temporary, content, { mode: 0o600, flag: 'wx' });
  chmodSync(temporary, 0o600); // the umask may have narrowed it further; never wider
  renameSync(temporary, file);
}

export function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

export function readText(file: string): string {
  return readFileSync(file, 'utf8');
}

/**
 * Runs `fn` while holding `<dir>/.lock` (a directory: mkdir is atomic on every file system we run
 * on). A lock older than a minute is taken to be left behind by a crashed process and broken.
 */
export async function withLock<T>(dir: string, fn: () => T | Promise<T>): Promise<T> {
  const lock = path.join(dir, '.lock');
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      mkdirSync(lock, { mode: 0o700 });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      try {
        if (Date.now() - statSync(lock).mtimeMs > LOCK_STALE_MS) {
          rmSync(lock, { recursive: true, force: true });
        }
      } catch {
        // vanished meanwhile: retry
      }
      if (Date.now() > deadline) {
        throw new GatewayError('GW_ERR_NOT_READY', `pki: ${lock} is held by another process`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
