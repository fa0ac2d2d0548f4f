/**
 * The SystemCertificateStore conformance suite: what the file store and the PostgreSQL store must
 * both honour — a pin is the certificate, described by serial and validity; a re-issue replaces the
 * pin at once and keeps the replaced one in the history, never to be pinned again; pinIfAbsent (the
 * import of a data directory) never displaces a pin; the version changes with every pin and only
 * then; two instances on one storage (two replicas, or `gw pki issue` beside the server) see each
 * other's pins at once; concurrent pins of one system leave one pin and an unbroken history.
 */
import { describe, expect, it } from 'vitest';
import { systemUri } from '../../gateway/pki/bootstrap.ts';
import { createCa, issueCertificate } from '../../gateway/pki/ca.ts';
import type { SystemCertificateStore } from '../../gateway/ports/system-certificate-store.ts';
import { refusal, storeFixturePerTest } from './store-fixture.ts';

export interface SystemCertificateStoreFixture {
  store: SystemCertificateStore;
  /** Another instance on the same storage, as a second gateway process or replica would open it. */
  another: () => Promise<SystemCertificateStore>;
  cleanup: () => Promise<void>;
}

const ca = createCa({ commonName: 'Conformance CA', days: 30, keyAlgorithm: 'rsa-2048' });
let issuedCount = 0;

/** A certificate for `systemId`, each one a minute later than the one before (the file store orders its history by validity). */
function certificateFor(systemId: string): { pem: string; serial: string } {
  issuedCount++;
  const issued = issueCertificate(ca, {
    commonName: systemId,
    sanUris: [systemUri(systemId)],
    usage: ['client', 'signing'],
    days: 30,
    keyAlgorithm: 'ec-p256',
    notBefore: new Date(Date.UTC(2026, 0, 1) + issuedCount * 60_000),
  });
  return { pem: issued.certPem, serial: issued.serial };
}

export function runSystemCertificateStoreConformance(
  name: string,
  fixture: () => Promise<SystemCertificateStoreFixture>,
): void {
  describe(`SystemCertificateStore conformance (${name})`, () => {
    let f: SystemCertificateStoreFixture;
    const { opened } = storeFixturePerTest<SystemCertificateStore, SystemCertificateStoreFixture>(
      fixture,
      (fixtureNow) => {
        f = fixtureNow;
      },
    );
    const another = () => opened(() => f.another());

    it('pins a certificate naming the system; current, pins and history return it', async () => {
      expect(await f.store.current('sn-melde')).toBeNull();
      expect(await f.store.pins()).toEqual([]);
      const cert = certificateFor('sn-melde');
      const at = new Date('2026-03-01T12:00:00.000Z');
      const result = await f.store.pin({
        systemId: 'sn-melde',
        certificatePem: cert.pem,
        by: 'cli',
        now: at,
      });
      expect(result.added).toBe(true);
      expect(result.replaced).toBeNull();
      expect(result.entry).toMatchObject({
        systemId: 'sn-melde',
        serial: cert.serial,
        notBefore: expect.stringMatching(/^2026-01-01T\d\d:\d\d:00\.000Z$/),
        notAfter: expect.stringMatching(/^2026-01-31T/),
        issuedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      });
      expect(result.entry.certificatePem.trim()).toBe(cert.pem.trim());
      expect(await f.store.current('sn-melde')).toEqual(result.entry);
      expect(await f.store.pins()).toEqual([result.entry]);
      expect(await f.store.history('sn-melde')).toEqual([result.entry]);
      expect(await f.store.current('st-melde')).toBeNull();
    });

    it('a re-issue replaces the pin at once; the replaced one stays in the history; pinning the pin again changes nothing', async () => {
      const first = certificateFor('sn-melde');
      const second = certificateFor('sn-melde');
      const other = certificateFor('st-melde');
      const a = await f.store.pin({ systemId: 'sn-melde', certificatePem: first.pem, by: 'cli' });
      await f.store.pin({ systemId: 'st-melde', certificatePem: other.pem, by: 'cli' });
      const b = await f.store.pin({ systemId: 'sn-melde', certificatePem: second.pem, by: 'cli' });
      expect(b.added).toBe(true);
      expect(b.replaced?.serial).toBe(first.serial);
      expect((await f.store.current('sn-melde'))?.serial).toBe(second.serial);
      expect((await f.store.history('sn-melde')).map((c) => c.serial)).toEqual([first.serial, second.serial]);
      expect(
        (await f.store.pins()).map((c) => [c.systemId, c.serial]).sort((x, y) => x[0]!.localeCompare(y[0]!)),
      ).toEqual([
        ['sn-melde', second.serial],
        ['st-melde', other.serial],
      ]);
      expect(a.entry.serial).toBe(first.serial);

      const version = await f.store.version();
      const again = await f.store.pin({
        systemId: 'sn-melde',
        certificatePem: second.pem,
        by: 'someone-else',
      });
      expect(again).toEqual({ entry: b.entry, replaced: null, added: false });
      expect(await f.store.version()).toBe(version);
    });

    it('refuses a replaced certificate and one naming another system, storing nothing', async () => {
      const first = certificateFor('sn-melde');
      const second = certificateFor('sn-melde');
      await f.store.pin({ systemId: 'sn-melde', certificatePem: first.pem, by: 'cli' });
      await f.store.pin({ systemId: 'sn-melde', certificatePem: second.pem, by: 'cli' });
      const version = await f.store.version();
      expect(
        await refusal(f.store.pin({ systemId: 'sn-melde', certificatePem: first.pem, by: 'cli' })),
      ).toMatch(
        /^GW_ERR_BAD_REQUEST: pki: certificate [0-9a-f]+ was pinned for sn-melde before and replaced/,
      );
      const foreign = certificateFor('st-melde');
      expect(
        await refusal(f.store.pin({ systemId: 'sn-melde', certificatePem: foreign.pem, by: 'cli' })),
      ).toMatch(/^GW_ERR_BAD_REQUEST: pki: the certificate names st-melde, not sn-melde/);
      expect(
        await refusal(f.store.pin({ systemId: 'sn-melde', certificatePem: 'not a certificate', by: 'cli' })),
      ).toMatch(/^GW_ERR_BAD_REQUEST: pki: not a certificate to pin for sn-melde/);
      expect(await refusal(f.store.current('../etc'))).toMatch(
        /^GW_ERR_CONFIG_INVALID: pki: invalid system id/,
      );
      expect(await f.store.version()).toBe(version);
      expect((await f.store.current('sn-melde'))?.serial).toBe(second.serial);
      expect(await f.store.current('st-melde')).toBeNull();
    });

    it('pinIfAbsent pins a system that has no pin and never displaces one', async () => {
      const older = certificateFor('sn-melde');
      const newer = certificateFor('sn-melde');
      const imported = await f.store.pinIfAbsent({
        systemId: 'sn-melde',
        certificatePem: older.pem,
        by: 'import',
      });
      expect(imported).toMatchObject({ added: true, replaced: null, entry: { serial: older.serial } });
      const pinned = await f.store.pin({ systemId: 'sn-melde', certificatePem: newer.pem, by: 'cli' });
      const version = await f.store.version();
      // A stale copy of the data directory imported again: the newer pin stays.
      const stale = await f.store.pinIfAbsent({
        systemId: 'sn-melde',
        certificatePem: older.pem,
        by: 'import',
      });
      expect(stale).toEqual({ entry: pinned.entry, replaced: null, added: false });
      const unknown = await f.store.pinIfAbsent({
        systemId: 'sn-melde',
        certificatePem: certificateFor('sn-melde').pem,
        by: 'import',
      });
      expect(unknown).toEqual({ entry: pinned.entry, replaced: null, added: false });
      expect(await f.store.version()).toBe(version);
      expect((await f.store.current('sn-melde'))?.serial).toBe(newer.serial);
    });

    it('another instance on the same storage sees each pin at once: its version changes, current() holds it', async () => {
      const other = await another();
      const versions = [await other.version()];
      for (const system of ['sn-melde', 'st-melde', 'sn-melde']) {
        const cert = certificateFor(system);
        await f.store.pin({ systemId: system, certificatePem: cert.pem, by: 'cli' });
        const version = await other.version();
        expect(versions).not.toContain(version);
        versions.push(version);
        expect((await other.current(system))?.serial).toBe(cert.serial);
        expect((await other.pins()).find((p) => p.systemId === system)?.serial).toBe(cert.serial);
      }
      // Polling with nothing new: the same version.
      expect(await other.version()).toBe(versions.at(-1));
      const back = certificateFor('th-melde');
      await other.pin({ systemId: 'th-melde', certificatePem: back.pem, by: 'cli' });
      expect(await f.store.version()).not.toBe(versions.at(-1));
      expect((await f.store.current('th-melde'))?.serial).toBe(back.serial);
    });

    it('concurrent re-issues of one system by several instances leave one pin and an unbroken history', async () => {
      const first = certificateFor('sn-melde');
      await f.store.pin({ systemId: 'sn-melde', certificatePem: first.pem, by: 'cli' });
      const stores = [f.store, await another(), await another(), await another()];
      const certs = stores.map(() => certificateFor('sn-melde'));
      const results = await Promise.all(
        stores.map((store, i) =>
          store.pin({ systemId: 'sn-melde', certificatePem: certs[i]!.pem, by: `replica-${i}` }),
        ),
      );
      expect(results.every((r) => r.added)).toBe(true);
      const history = (await f.store.history('sn-melde')).map((c) => c.serial);
      expect(history).toHaveLength(5);
      expect(history[0]).toBe(first.serial);
      expect(new Set(history)).toEqual(new Set([first.serial, ...certs.map((c) => c.serial)]));
      // Each call replaced exactly the pin of the call before it: no two replaced the same one.
      const replaced = results.map((r) => r.replaced?.serial);
      expect(new Set(replaced).size).toBe(4);
      expect(new Set(replaced)).toEqual(new Set(history.slice(0, 4)));
      expect((await f.store.current('sn-melde'))?.serial).toBe(history[4]);
    });

    it('concurrent imports of one system by several instances pin it once', async () => {
      const stores = [f.store, await another(), await another()];
      const certs = stores.map(() => certificateFor('sn-melde'));
      const results = await Promise.all(
        stores.map((store, i) =>
          store.pinIfAbsent({ systemId: 'sn-melde', certificatePem: certs[i]!.pem, by: 'import' }),
        ),
      );
      expect(results.filter((r) => r.added)).toHaveLength(1);
      const winner = results.find((r) => r.added)!.entry;
      for (const r of results) expect(r.entry.serial).toBe(winner.serial);
      expect((await f.store.history('sn-melde')).map((c) => c.serial)).toEqual([winner.serial]);
    });
  });
}
