import { mkdtempSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CallbackSecretError, CallbackSecrets } from './callback-secret.ts';

const FIRST = 'the first callback secret, 32 bytes and more';
const SECOND = 'the second callback secret, 32 bytes or more';
const THIRD = 'the third callback secret!, 32 bytes or more';

describe('callback secrets from a file', () => {
  let dir: string;
  let file: string;
  let reads: number;
  let secrets: CallbackSecrets;
  const callback = { url: 'https://receiver.example/cb', secretFile: 'secret.txt' };
  const secret = () => secrets.of(callback).toString('utf8');
  /** The file as written long ago: its times are older than SETTLE_MS. */
  const age = (target = file) =>
    utimesSync(target, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'gw-callback-secret-'));
    file = path.join(dir, 'secret.txt');
    writeFileSync(file, `${FIRST}\n`);
    reads = 0;
    secrets = new CallbackSecrets({
      contractsDir: dir,
      read: (f) => {
        reads++;
        return readFileSync(f, 'utf8');
      },
    });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads an unchanged file once, however many callbacks are signed', () => {
    age();
    for (let i = 0; i < 100; i++) expect(secret()).toBe(FIRST);
    expect(reads).toBe(1);
  });

  it('reads the file again when it is rotated by a rename', () => {
    age();
    expect(secret()).toBe(FIRST);
    const next = path.join(dir, 'secret.next');
    writeFileSync(next, SECOND);
    age(next);
    renameSync(next, file);
    expect(secret()).toBe(SECOND);
    expect(secret()).toBe(SECOND);
    expect(reads).toBe(2);
  });

  it('reads the file again when it is rewritten in place, the same size, at once', () => {
    expect(secret()).toBe(FIRST);
    // Within the same tick of the file times, possibly: a fresh file is not kept, so it is seen.
    writeFileSync(file, `${THIRD}\n`);
    expect(THIRD.length).toBe(FIRST.length);
    expect(secret()).toBe(THIRD);
    age();
    expect(secret()).toBe(THIRD);
    expect(secret()).toBe(THIRD);
    const settled = reads;
    writeFileSync(file, `${FIRST}\n`);
    expect(secret()).toBe(FIRST);
    expect(reads).toBe(settled + 1);
  });

  it('reads again after a reload of the directory (forget)', () => {
    age();
    expect(secret()).toBe(FIRST);
    expect(secret()).toBe(FIRST);
    secrets.forget();
    expect(secret()).toBe(FIRST);
    expect(reads).toBe(2);
  });

  it('names the file, not the secret, when it is gone or too short', () => {
    age();
    expect(secret()).toBe(FIRST);
    rmSync(file);
    expect(() => secret()).toThrow(CallbackSecretError);
    expect(() => secret()).toThrow(/secret\.txt cannot be read: ENOENT/);
    writeFileSync(file, 'short');
    expect(() => secret()).toThrow(/fewer than 32 bytes/);
  });

  it('takes a variable from the environment at each call', () => {
    const env: NodeJS.ProcessEnv = { GW_TEST_SECRET: FIRST };
    const fromEnv = new CallbackSecrets({ contractsDir: dir, env });
    const cb = { url: 'https://receiver.example/cb', secretEnv: 'GW_TEST_SECRET' };
    expect(fromEnv.of(cb).toString()).toBe(FIRST);
    env.GW_TEST_SECRET = SECOND;
    expect(fromEnv.of(cb).toString()).toBe(SECOND);
    delete env.GW_TEST_SECRET;
    expect(() => fromEnv.of(cb)).toThrow(/GW_TEST_SECRET is not set/);
  });
});
