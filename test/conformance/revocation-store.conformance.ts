/**
 * The RevocationStore conformance suite: what the file store and the PostgreSQL store must both
 * honour — a revocation is stored normalised with its reason, subject, author and time; revoking
 * again (also by two processes at once) keeps the first entry; the version changes with every
 * revocation and only then; and two instances on one storage (two replicas, or `gw pki revoke`
 * beside the server) see each other's revocations at once, with no cache in between.
 */
import { describe, expect, it } from 'vitest';
import type { RevocationStore } from '../../gateway/ports/revocation-store.ts';
import { refusal, storeFixturePerTest } from './store-fixture.ts';

export interface RevocationStoreFixture {
  store: RevocationStore;
  /** Another instance on the same storage, as a second gateway process or replica would open it. */
  another: () => Promise<RevocationStore>;
  cleanup: () => Promise<void>;
}

export function runRevocationStoreConformance(
  name: string,
  fixture: () => Promise<RevocationStoreFixture>,
): void {
  describe(`RevocationStore conformance (${name})`, () => {
    let f: RevocationStoreFixture;
    const { opened } = storeFixturePerTest<RevocationStore, RevocationStoreFixture>(fixture, (fixtureNow) => {
      f = fixtureNow;
    });
    const another = () => opened(() => f.another());

    it('stores a revocation normalised, with reason, subject, author and time; lists it', async () => {
      expect(await f.store.list()).toEqual([]);
      const at = new Date('2026-03-01T12:00:00.000Z');
      const { entry, added } = await f.store.revoke({
        serial: '0B:A7:2D:43',
        reason: 'keyCompromise',
        subject: 'CN=sn-melde',
        by: 'cli',
        now: at,
      });
      expect(added).toBe(true);
      expect(entry).toEqual({
        serial: '0ba72d43',
        revokedAt: at.toISOString(),
        reason: 'keyCompromise',
        subject: 'CN=sn-melde',
        revokedBy: 'cli',
      });
      expect(await f.store.list()).toEqual([entry]);
      const plain = await f.store.revoke({ serial: 'ff01', reason: 'unspecified', by: 'import' });
      expect(plain.entry).toEqual({
        serial: 'ff01',
        revokedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        reason: 'unspecified',
        revokedBy: 'import',
      });
      expect((await f.store.list()).map((e) => e.serial)).toEqual(['0ba72d43', 'ff01']);
    });

    it('is idempotent: a serial revoked before keeps its first entry, and the version stays', async () => {
      const first = await f.store.revoke({ serial: 'abcd', reason: 'superseded', by: 'cli' });
      const version = await f.store.version();
      const again = await f.store.revoke({
        serial: '0xABCD',
        reason: 'keyCompromise',
        by: 'someone-else',
        now: new Date('2030-01-01T00:00:00.000Z'),
      });
      expect(again).toEqual({ entry: first.entry, added: false });
      expect(await f.store.version()).toBe(version);
      expect(await f.store.list()).toEqual([first.entry]);
    });

    it('refuses what is not a serial number, storing nothing', async () => {
      const version = await f.store.version();
      for (const serial of ['', 'xyz', 'a'.repeat(50)]) {
        expect(await refusal(f.store.revoke({ serial, reason: 'unspecified', by: 'cli' }))).toMatch(
          /^GW_ERR_BAD_REQUEST: not a certificate serial number/,
        );
      }
      expect(await f.store.version()).toBe(version);
      expect(await f.store.list()).toEqual([]);
    });

    it('another instance on the same storage sees each revocation at once: its version changes, its list holds it', async () => {
      const other = await another();
      const versions = [await other.version()];
      for (const serial of ['01', '02', '03']) {
        await f.store.revoke({ serial, reason: 'unspecified', by: 'cli' });
        const version = await other.version();
        expect(versions).not.toContain(version);
        versions.push(version);
        expect((await other.list()).map((e) => e.serial)).toContain(serial);
      }
      // Polling with nothing new: the same version.
      expect(await other.version()).toBe(versions.at(-1));
      await other.revoke({ serial: '04', reason: 'unspecified', by: 'cli' });
      expect(await f.store.version()).not.toBe(versions.at(-1));
      expect((await f.store.list()).map((e) => e.serial)).toEqual(['01', '02', '03', '04']);
    });

    it('two instances revoking one serial at once store it once; every call returns the one entry', async () => {
      const others = [await another(), await another(), await another()];
      const results = await Promise.all(
        [f.store, ...others].map((store, i) =>
          store.revoke({ serial: 'c0ffee', reason: 'keyCompromise', by: `replica-${i}` }),
        ),
      );
      expect(results.filter((r) => r.added)).toHaveLength(1);
      const winner = results.find((r) => r.added)!.entry;
      for (const r of results) expect(r.entry).toEqual(winner);
      expect(await f.store.list()).toEqual([winner]);
    });
  });
}
