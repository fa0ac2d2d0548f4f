/**
 * `gw pki issue`'s order: the key is kept before anything is pinned, the caller's event comes before
 * the pin, and a shared pin whose answer was lost leaves its key where the error says.
 */
import { createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SystemCertificateStore } from '../ports/system-certificate-store.ts';
import { ensurePki, type Pki } from './bootstrap.ts';
import { FileSystemCertificateStore } from './file-system-certificate-store.ts';
import { issueSystemCertificate } from './issue-system.ts';

const SIGNING = { signingAlgorithm: 'ecdsa-p256-sha256', rsaBits: 2048 } as const;
const work = mkdtempSync(path.join(tmpdir(), 'gw-issue-system-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let dirs = 0;
async function setUp(): Promise<{ pki: Pki; shared: FileSystemCertificateStore }> {
  const base = path.join(work, String(++dirs));
  const pki = await ensurePki({
    dir: path.join(base, 'pki'),
    systems: ['sn-melde'],
    passphrase: 'issue',
    serverNames: ['localhost'],
    ...SIGNING,
  });
  // Stands in for the PostgreSQL store: another place, seeded with the same pin.
  const shared = new FileSystemCertificateStore(path.join(base, 'shared'));
  await shared.pin({
    systemId: 'sn-melde',
    certificatePem: readFileSync(pki.systemCertPath('sn-melde'), 'utf8'),
    by: 'test',
  });
  return { pki, shared };
}

/** `store` as the shared kind, so issueSystemCertificate takes the replicas' path. */
function asShared(
  store: SystemCertificateStore,
  pin: SystemCertificateStore['pin'] = (input) => store.pin(input),
) {
  return {
    kind: 'postgres' as const,
    pin,
    pinIfAbsent: (input) => store.pinIfAbsent(input),
    current: (id) => store.current(id),
    pins: () => store.pins(),
    history: (id) => store.history(id),
    version: () => store.version(),
    close: () => store.close(),
  } satisfies SystemCertificateStore;
}

const spki = (pem: string) => createPublicKey(pem).export({ type: 'spki', format: 'der' }).toString('hex');
const serialOf = (pem: string) => new X509Certificate(pem).serialNumber.toLowerCase();
const pendingDir = (pki: Pki) => path.join(path.dirname(pki.systemCertPath('sn-melde')), 'pending');

describe('issueSystemCertificate', () => {
  it('runs beforePin with the pin it replaces, before that pin is replaced; then pins, keeps the key and leaves nothing pending', async () => {
    const { pki, shared } = await setUp();
    const old = await shared.current('sn-melde');
    const seen: { serial: string; replacing: string | null; pinAtThatTime: string | undefined }[] = [];
    const issued = await issueSystemCertificate(pki, 'sn-melde', {
      ...SIGNING,
      pins: asShared(shared),
      beforePin: async (certificate, replacing) => {
        seen.push({
          serial: certificate.serialNumber.toLowerCase(),
          replacing: replacing?.serialNumber.toLowerCase() ?? null,
          pinAtThatTime: (await shared.current('sn-melde'))?.serial,
        });
      },
    });
    const serial = issued.certificate.serialNumber.toLowerCase();
    expect(seen).toEqual([{ serial, replacing: old!.serial, pinAtThatTime: old!.serial }]);
    expect((await shared.current('sn-melde'))?.serial).toBe(serial);
    expect(serialOf(readFileSync(pki.systemCertPath('sn-melde'), 'utf8'))).toBe(serial);
    expect(spki(readFileSync(pki.systemKeyPath('sn-melde'), 'utf8'))).toBe(
      spki(issued.certificate.toString()),
    );
    expect(issued.replaced?.serialNumber.toLowerCase()).toBe(old!.serial);
    expect(readdirSync(pendingDir(pki))).toEqual([]);
  });

  it('pins nothing and keeps no key when beforePin throws (the event could not be written)', async () => {
    const { pki, shared } = await setUp();
    const before = {
      shared: (await shared.current('sn-melde'))?.serial,
      cert: readFileSync(pki.systemCertPath('sn-melde'), 'utf8'),
      key: readFileSync(pki.systemKeyPath('sn-melde'), 'utf8'),
    };
    await expect(
      issueSystemCertificate(pki, 'sn-melde', {
        ...SIGNING,
        pins: asShared(shared),
        beforePin: async () => {
          throw new Error('audit store unavailable');
        },
      }),
    ).rejects.toThrow('audit store unavailable');
    expect((await shared.current('sn-melde'))?.serial).toBe(before.shared);
    expect(readFileSync(pki.systemCertPath('sn-melde'), 'utf8')).toBe(before.cert);
    expect(readFileSync(pki.systemKeyPath('sn-melde'), 'utf8')).toBe(before.key);
    expect(readdirSync(pendingDir(pki))).toEqual([]);
  });

  it('keeps the key of a shared pin whose answer was lost after it committed, and says where', async () => {
    const { pki, shared } = await setUp();
    const oldKey = readFileSync(pki.systemKeyPath('sn-melde'), 'utf8');
    const lostAnswer = asShared(shared, async (input) => {
      await shared.pin(input);
      throw new Error('Connection terminated unexpectedly');
    });
    const error = await issueSystemCertificate(pki, 'sn-melde', { ...SIGNING, pins: lostAnswer }).catch(
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain('Connection terminated unexpectedly');
    expect((error as Error).message).toContain(pendingDir(pki));

    // The pin every replica now uses has its key on this host, beside its certificate.
    const pinned = (await shared.current('sn-melde'))!;
    const keyFile = path.join(pendingDir(pki), 'sn-melde.key');
    expect(existsSync(keyFile)).toBe(true);
    expect(spki(readFileSync(keyFile, 'utf8'))).toBe(spki(pinned.certificatePem));
    expect(serialOf(readFileSync(path.join(pendingDir(pki), 'sn-melde.crt'), 'utf8'))).toBe(pinned.serial);
    // The local files were not touched: certificate and key still belong together.
    expect(readFileSync(pki.systemKeyPath('sn-melde'), 'utf8')).toBe(oldKey);
    expect(spki(oldKey)).toBe(spki(readFileSync(pki.systemCertPath('sn-melde'), 'utf8')));
  });
});
