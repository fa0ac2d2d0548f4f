/**
 * The audit key on disk (encrypted like the gateway's other keys, one key however many processes
 * start at once) and the checkpointer that uses it.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureAuditKey, loadAuditPublicKey, resolveKeyPassphrase } from '../../gateway/audit/audit-key.ts';
import { AuditLog } from '../../gateway/audit/audit-log.ts';
import { Checkpointer } from '../../gateway/audit/checkpointer.ts';
import { SqliteAuditStore } from '../../gateway/audit/sqlite-audit-store.ts';
import { verifyExport } from '../../gateway/audit/verify-export.ts';
import { verifyInclusionProof } from '../../gateway/audit/verify-proof.ts';
import { isEncryptedPkcs8Pem } from '../../gateway/pki/ca.ts';
import { collect } from './audit-tamper.conformance.ts';

const PASSPHRASE = 'audit-key-test-passphrase';
const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gw-audit-key-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('audit key', () => {
  it('is created once under pki/, encrypted with the key passphrase, with audit.pub beside it', () => {
    const pkiDir = tempDir();
    const key = ensureAuditKey({ pkiDir, passphrase: PASSPHRASE });
    const pem = readFileSync(join(pkiDir, 'audit.key'), 'utf8');
    expect(isEncryptedPkcs8Pem(pem)).toBe(true);
    expect(statSync(join(pkiDir, 'audit.key')).mode & 0o777).toBe(0o600);
    const pub = readFileSync(join(pkiDir, 'audit.pub'), 'utf8');
    expect(pub).toBe(key.publicKeyPem);
    expect(loadAuditPublicKey(pub).keyId).toBe(key.keyId);
    expect(ensureAuditKey({ pkiDir, passphrase: PASSPHRASE }).keyId).toBe(key.keyId);
    expect(() => ensureAuditKey({ pkiDir, passphrase: 'wrong-passphrase!' })).toThrow(/cannot decrypt/);
  });

  it('takes the passphrase from the configuration, else from pki/passphrase', () => {
    const pkiDir = tempDir();
    expect(resolveKeyPassphrase(pkiDir, 'configured-one')).toBe('configured-one');
    expect(() => resolveKeyPassphrase(pkiDir)).toThrow(
      expect.objectContaining({ code: 'GW_ERR_CONFIG_INVALID' }),
    );
    writeFileSync(join(pkiDir, 'passphrase'), 'from-the-file\n');
    expect(resolveKeyPassphrase(pkiDir)).toBe('from-the-file');
  });

  it('refuses a public key that is not ECDSA P-256', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    expect(() => loadAuditPublicKey(rsa as string)).toThrow(/P-256/);
  });

  it('ends up as one key when three processes create it at the same moment', async () => {
    const pkiDir = tempDir();
    const go = join(pkiDir, 'go');
    const module = fileURLToPath(new URL('../../gateway/audit/audit-key.ts', import.meta.url));
    const root = fileURLToPath(new URL('../..', import.meta.url));
    // Each child loads everything, says ready, then spins on the go file: they create the key together.
    const script = `
      const { existsSync } = await import('node:fs');
      const { ensureAuditKey } = await import(process.env.KEY_MODULE);
      process.stdout.write('ready\\n');
      while (!existsSync(process.env.GO_FILE)) await new Promise((r) => setTimeout(r, 2));
      process.stdout.write(ensureAuditKey({ pkiDir: process.env.PKI_DIR, passphrase: '${PASSPHRASE}' }).keyId);
    `;
    const ready: Promise<void>[] = [];
    const ids = [0, 1, 2].map(
      () =>
        new Promise<string>((resolve, reject) => {
          const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
            cwd: root,
            env: { ...process.env, KEY_MODULE: module, PKI_DIR: pkiDir, GO_FILE: go },
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          let out = '';
          ready.push(
            new Promise((r) =>
              child.stdout.on('data', (chunk) => {
                out += chunk;
                if (out.includes('ready')) r();
              }),
            ),
          );
          child.once('exit', (code) =>
            code === 0 ? resolve(out.replace('ready\n', '')) : reject(new Error(`exit ${code}`)),
          );
        }),
    );
    await Promise.all(ready);
    writeFileSync(go, '');
    const keyIds = await Promise.all(ids);
    expect(new Set(keyIds).size).toBe(1);
    expect(keyIds[0]).toBe(ensureAuditKey({ pkiDir, passphrase: PASSPHRASE }).keyId);
  });
});

describe('Checkpointer', () => {
  it('signs every N events, every T, and once more on stop; proofs verify with audit.pub', async () => {
    const dir = tempDir();
    const key = ensureAuditKey({ pkiDir: dir, passphrase: PASSPHRASE });
    const store = new SqliteAuditStore({ file: join(dir, 'audit.sqlite') });
    const checkpointer = new Checkpointer({
      store,
      signer: key.signer,
      everyEvents: 5,
      everyMs: 300,
      logger: pino({ level: 'silent' }),
    });
    const log = new AuditLog(store, { onAppended: (n) => checkpointer.noteAppended(n) });
    try {
      for (let i = 0; i < 12; i++)
        await log.record({ kind: 'received', actor: 'gateway', messageId: `m-${i}` });
      // By count: after the 5th and the 10th event (each checkpoint covers what is there when it runs).
      await expect
        .poll(async () => (await store.checkpoints()).length, { timeout: 5000 })
        .toBeGreaterThanOrEqual(2);
      checkpointer.start();
      // By time: the last two events get covered without more appends.
      await expect
        .poll(async () => (await store.latestCheckpoint())?.heads[0]?.seq, { timeout: 5000 })
        .toBe(12);
      await log.record({ kind: 'received', actor: 'gateway', messageId: 'last' });
      await checkpointer.stop();
      expect((await store.latestCheckpoint())!.heads).toEqual(await store.heads());
      const result = await verifyExport(await collect(store), { publicKey: key.publicKey, keyId: key.keyId });
      expect(result).toMatchObject({ ok: true, entries: 13, unsignedEntries: 0 });
      const [entry] = await store.query({ messageId: 'm-3' });
      const proof = (await store.inclusionProof(entry!.chain, entry!.seq))!;
      expect(await verifyInclusionProof(proof, readFileSync(join(dir, 'audit.pub'), 'utf8'), entry)).toEqual({
        ok: true,
      });
    } finally {
      await store.close();
    }
  });
});
