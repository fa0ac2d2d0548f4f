/**
 * A system's callback secret, read when a callback is signed (so a rotated file or variable takes
 * effect without a reload) and never logged: errors name the variable or file, not the value.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { CallbackEntry } from '../directory/directory.ts';

/** HMAC-SHA256 keys shorter than this are refused (RFC 2104 recommends at least the output size). */
export const MIN_SECRET_BYTES = 32;

export class CallbackSecretError extends Error {}

export function readCallbackSecret(
  callback: CallbackEntry,
  options: { contractsDir: string; env?: NodeJS.ProcessEnv },
): Buffer {
  let value: string | undefined;
  if (callback.secretEnv) {
    value = (options.env ?? process.env)[callback.secretEnv];
    if (value === undefined)
      throw new CallbackSecretError(`environment variable ${callback.secretEnv} is not set`);
  } else if (callback.secretFile) {
    const file = path.resolve(options.contractsDir, callback.secretFile);
    try {
      value = readFileSync(file, 'utf8');
    } catch (error) {
      throw new CallbackSecretError(
        `secret file ${file} cannot be read: ${(error as NodeJS.ErrnoException).code}`,
      );
    }
  }
  const secret = Buffer.from((value ?? '').trim(), 'utf8');
  if (secret.length < MIN_SECRET_BYTES)
    throw new CallbackSecretError(`the callback secret has fewer than ${MIN_SECRET_BYTES} bytes`);
  return secret;
}
