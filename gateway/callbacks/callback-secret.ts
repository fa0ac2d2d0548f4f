/**
 * A system's callback secret, looked up when a callback is signed (so a rotated file or variable
 * takes effect without a reload) and never logged: errors name the variable or file, not the value.
 *
 * A secret file is not read at every attempt: CallbackSecrets keeps what it read with the file's
 * identity (device, inode, size, modification and change times) and reads it again only when one
 * of them changed — one stat per attempt. A rotation by rename (a new inode) or by rewriting the
 * file in place (new times) is seen at the next attempt; a reload of the directory forgets
 * everything read (forget()). File times are coarse (a kernel tick): a file written less than
 * SETTLE_MS ago could be written again under the same times and size, so it is not kept until its
 * last write is older than that. A variable is read from the environment each time: nothing to
 * cache.
 */
import { type BigIntStats, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { CallbackEntry } from '../directory/directory.ts';

/** HMAC-SHA256 keys shorter than this are refused (RFC 2104 recommends at least the output size). */
export const MIN_SECRET_BYTES = 32;

/** How old a file's last write must be for what was read to be kept. */
export const SETTLE_MS = 1_000;

export class CallbackSecretError extends Error {}

export interface CallbackSecretOptions {
  contractsDir: string;
  env?: NodeJS.ProcessEnv;
}

/** How a secret file is read (tests count the reads). */
export type SecretFileReader = (file: string) => string;

/** The secret files read, each kept until the file changes or the directory is reloaded. */
export class CallbackSecrets {
  private readonly files = new Map<string, { identity: string; secret: Buffer }>();

  constructor(
    private readonly options: CallbackSecretOptions & { read?: SecretFileReader; now?: () => number },
  ) {}

  /** The secret of `callback`: its variable's value now, or its file's as last read if the file is unchanged. */
  of(callback: CallbackEntry): Buffer {
    if (callback.secretEnv) return secretOf(envValue(callback.secretEnv, this.options.env));
    if (!callback.secretFile) return secretOf('');
    const file = secretFileOf(callback.secretFile, this.options);
    const stat = statOf(file);
    const identity = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`;
    const kept = this.files.get(file);
    if (kept?.identity === identity) return kept.secret;
    this.files.delete(file);
    // Stat before read: a file replaced in between is kept under the older identity, read again next time.
    const secret = secretOf(readSecretFile(file, this.options.read));
    const writtenAgoMs = (this.options.now ?? Date.now)() - Number(stat.mtimeNs / 1_000_000n);
    if (writtenAgoMs > SETTLE_MS) this.files.set(file, { identity, secret });
    return secret;
  }

  /** Forgets every file read (the directory was reloaded). */
  forget(): void {
    this.files.clear();
  }
}

function envValue(name: string, env: NodeJS.ProcessEnv | undefined): string {
  const value = (env ?? process.env)[name];
  if (value === undefined) throw new CallbackSecretError(`environment variable ${name} is not set`);
  return value;
}

function secretFileOf(secretFile: string, options: CallbackSecretOptions): string {
  return path.resolve(options.contractsDir, secretFile);
}

/** The file's device, inode, size and nanosecond times: what changes when it is replaced or rewritten. */
function statOf(file: string): BigIntStats {
  try {
    return statSync(file, { bigint: true });
  } catch (error) {
    throw unreadable(file, error);
  }
}

function readSecretFile(file: string, read: SecretFileReader = (f) => readFileSync(f, 'utf8')): string {
  try {
    return read(file);
  } catch (error) {
    throw unreadable(file, error);
  }
}

function unreadable(file: string, error: unknown): CallbackSecretError {
  return new CallbackSecretError(
    `secret file ${file} cannot be read: ${(error as NodeJS.ErrnoException).code}`,
  );
}

function secretOf(value: string): Buffer {
  const secret = Buffer.from(value.trim(), 'utf8');
  if (secret.length < MIN_SECRET_BYTES)
    throw new CallbackSecretError(`the callback secret has fewer than ${MIN_SECRET_BYTES} bytes`);
  return secret;
}
