/**
 * The TokenStore conformance suite: what the SQLite and the PostgreSQL stores must both honour — a
 * token authenticates with its role, scope and permissions; a wrong secret, an unknown id or a
 * malformed token is refused; expiry and revocation refuse from the next check on; the secret is
 * never stored; and two instances on one storage (two replicas, or `gw token` beside the server)
 * see each other's tokens and revocations at once, with no cache in between. Tokens move between
 * stores as stored (`gw token import`): exported with their hashes, imported exactly, once, never
 * over a token already holding the id.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseDuration, statusOf } from '../../gateway/auth/tokens.ts';
import type { IssueTokenInput, StoredToken, TokenStore } from '../../gateway/ports/token-store.ts';
import { refusal, storeFixturePerTest } from './store-fixture.ts';

export interface TokenStoreFixture {
  store: TokenStore;
  /** Another instance on the same storage, as a second gateway process or replica would open it. */
  another: () => Promise<TokenStore>;
  /** An empty store of the same kind on storage of its own: the target of an import. */
  fresh: () => Promise<TokenStore>;
  /** Everything stored, as text (file bytes, or the rows), to show that no secret is in it. */
  storedText: () => Promise<string>;
  cleanup: () => Promise<void>;
}

const sha256 = (secret: string) => createHash('sha256').update(secret, 'utf8').digest();

const auditor = (extra: Partial<IssueTokenInput> = {}): IssueTokenInput => ({
  role: 'auditor',
  scope: 'land:SN',
  name: 'Datenschutz Sachsen',
  lifetimeMs: parseDuration('30d'),
  createdBy: 'cli',
  ...extra,
});

export function runTokenStoreConformance(name: string, fixture: () => Promise<TokenStoreFixture>): void {
  describe(`TokenStore conformance (${name})`, () => {
    let f: TokenStoreFixture;
    const { opened } = storeFixturePerTest<TokenStore, TokenStoreFixture>(fixture, (fixtureNow) => {
      f = fixtureNow;
    });
    const another = () => opened(() => f.another());
    const fresh = () => opened(() => f.fresh());

    it('issues a token that authenticates with its role, scope and name; only a hash is stored', async () => {
      const { token, record } = await f.store.issue(auditor());
      expect(token).toMatch(/^gwt_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
      expect(token.slice(4, 16)).toBe(record.id);
      const holder = await f.store.authenticate(token);
      expect(holder).toEqual({ ...record, parsedScope: { kind: 'land', land: 'SN' } });
      expect(holder).toMatchObject({
        role: 'auditor',
        scope: 'land:SN',
        name: 'Datenschutz Sachsen',
        createdBy: 'cli',
        revokedAt: null,
        permissions: [],
      });
      const secret = token.slice(17);
      const stored = await f.storedText();
      expect(stored).toContain(record.id);
      expect(stored).not.toContain(secret);
    });

    it('keeps scope kinds and permissions as issued, and refuses invalid ones', async () => {
      const operator = await f.store.issue({
        role: 'operator',
        scope: '*',
        lifetimeMs: 60_000,
        createdBy: 'test',
        permissions: ['audit-payload', 'audit-payload'],
      });
      expect(operator.record.permissions).toEqual(['audit-payload']);
      expect(operator.record.name).toBe('');
      expect(await f.store.authenticate(operator.token)).toMatchObject({
        role: 'operator',
        scope: '*',
        parsedScope: { kind: 'all' },
        permissions: ['audit-payload'],
      });
      const system = await f.store.issue(auditor({ scope: 'system:st-melde' }));
      expect((await f.store.authenticate(system.token)).parsedScope).toEqual({
        kind: 'system',
        systemId: 'st-melde',
      });
      for (const scope of ['land:XX', 'land:sn', 'all', 'system:', '']) {
        expect(await refusal(f.store.issue(auditor({ scope })))).toMatch(/^GW_ERR_BAD_REQUEST/);
      }
      expect(await refusal(f.store.issue(auditor({ lifetimeMs: parseDuration('400d') })))).toMatch(
        /^GW_ERR_BAD_REQUEST/,
      );
      expect(await refusal(f.store.issue(auditor({ lifetimeMs: 0 })))).toMatch(/^GW_ERR_BAD_REQUEST/);
      expect(
        await refusal(f.store.issue(auditor({ permissions: ['everything' as 'audit-payload'] }))),
      ).toMatch(/^GW_ERR_BAD_REQUEST: unknown permission/);
      // Nothing refused was stored.
      expect((await f.store.list()).map((r) => r.id).sort()).toEqual(
        [operator.record.id, system.record.id].sort(),
      );
    });

    it('issues a scraper token of scope * without permissions, and refuses any other scraper token', async () => {
      const { token, record } = await f.store.issue({
        role: 'scraper',
        scope: '*',
        name: 'prometheus',
        lifetimeMs: parseDuration('90d'),
        createdBy: 'cli',
      });
      expect(await f.store.authenticate(token)).toEqual({ ...record, parsedScope: { kind: 'all' } });
      expect(record).toMatchObject({ role: 'scraper', scope: '*', permissions: [] });
      const scraper = (extra: Partial<IssueTokenInput>) =>
        f.store.issue({ role: 'scraper', scope: '*', lifetimeMs: 60_000, createdBy: 'cli', ...extra });
      for (const scope of ['land:SN', 'system:st-melde']) {
        expect(await refusal(scraper({ scope }))).toBe(
          `GW_ERR_BAD_REQUEST: a scraper token reads /metrics, which covers every system: its scope is *, not "${scope}"`,
        );
      }
      expect(await refusal(scraper({ permissions: ['audit-payload'] }))).toBe(
        'GW_ERR_BAD_REQUEST: a scraper token reads /metrics only: it carries no permission, not audit-payload',
      );
      expect(await refusal(scraper({ role: 'system' as 'scraper' }))).toMatch(
        /^GW_ERR_BAD_REQUEST: role must be auditor, operator, scraper/,
      );
      expect((await f.store.list()).map((r) => r.id)).toEqual([record.id]);

      // Moved to another store as stored, it admits there with the same secret.
      const target = await fresh();
      const [stored] = await f.store.exportAll();
      expect(await target.importRecord(stored!)).toEqual({ imported: true });
      expect((await target.authenticate(token)).role).toBe('scraper');
    });

    it('refuses a wrong secret, an unknown id and malformed tokens', async () => {
      const { token, record } = await f.store.issue(auditor());
      const last = token.at(-1) === 'A' ? 'B' : 'A';
      expect(await refusal(f.store.authenticate(token.slice(0, -1) + last))).toBe(
        'GW_ERR_TOKEN_INVALID: unknown token',
      );
      const other = await f.store.issue(auditor());
      // Another token's id with this one's secret.
      expect(await refusal(f.store.authenticate(`gwt_${other.record.id}_${token.slice(17)}`))).toBe(
        'GW_ERR_TOKEN_INVALID: unknown token',
      );
      expect(await refusal(f.store.authenticate(`gwt_000000000000_${token.slice(17)}`))).toBe(
        'GW_ERR_TOKEN_INVALID: unknown token',
      );
      for (const malformed of [
        'nonsense',
        '',
        token.slice(0, -1),
        `${token}A`,
        token.toUpperCase(),
        `gwt_${record.id.slice(1)}_${token.slice(17)}`,
        `gwt_${record.id}_${token.slice(17, -1)}=`,
        `xyz_${record.id}_${token.slice(17)}`,
        `gwt_${record.id}' OR '1'='1_${token.slice(17)}`,
      ]) {
        expect(await refusal(f.store.authenticate(malformed))).toBe('GW_ERR_TOKEN_INVALID: malformed token');
      }
      expect((await f.store.authenticate(token)).id).toBe(record.id);
    });

    it('expires at the end of its lifetime', async () => {
      const issuedAt = new Date('2030-01-01T00:00:00.000Z');
      const { token, record } = await f.store.issue(
        auditor({ scope: '*', lifetimeMs: parseDuration('12h'), now: issuedAt }),
      );
      expect(record.createdAt).toBe('2030-01-01T00:00:00.000Z');
      expect(record.expiresAt).toBe('2030-01-01T12:00:00.000Z');
      expect((await f.store.authenticate(token, new Date('2030-01-01T11:59:59.999Z'))).id).toBe(record.id);
      expect(await refusal(f.store.authenticate(token, new Date('2030-01-01T12:00:00.000Z')))).toBe(
        `GW_ERR_TOKEN_INVALID: token ${record.id} is expired`,
      );
      const [listed] = await f.store.list();
      expect(listed).toEqual(record);
      expect(statusOf(listed!, new Date('2030-01-02T00:00:00Z'))).toBe('expired');
    });

    it('revokes once: refused from the next check on, listed as revoked; an unknown id is undefined', async () => {
      const { token, record } = await f.store.issue(auditor());
      const at = new Date('2030-06-01T08:00:00.000Z');
      expect(await f.store.revoke(record.id, at)).toEqual({
        record: { ...record, revokedAt: at.toISOString() },
        changed: true,
      });
      expect(await refusal(f.store.authenticate(token))).toBe(
        `GW_ERR_TOKEN_INVALID: token ${record.id} is revoked`,
      );
      const again = await f.store.revoke(record.id);
      expect(again).toEqual({ record: { ...record, revokedAt: at.toISOString() }, changed: false });
      expect(await f.store.revoke('ffffffffffff')).toBeUndefined();
      const listed = (await f.store.list()).find((r) => r.id === record.id)!;
      expect(statusOf(listed)).toBe('revoked');
    });

    it('lists every token oldest first, without secrets or hashes', async () => {
      const issued = [];
      for (const [i, role] of (['operator', 'auditor', 'auditor'] as const).entries()) {
        issued.push(
          await f.store.issue({
            role,
            scope: role === 'operator' ? '*' : 'land:TH',
            name: `holder ${i}`,
            lifetimeMs: 3_600_000,
            createdBy: 'cli',
            now: new Date(Date.UTC(2030, 0, 3 - i)),
          }),
        );
      }
      const listed = await f.store.list();
      expect(listed).toEqual(issued.map((i) => i.record).reverse());
      const text = JSON.stringify(listed);
      for (const { token } of issued) expect(text).not.toContain(token.slice(17));
      expect(Object.keys(listed[0]!).sort()).toEqual(
        [
          'createdAt',
          'createdBy',
          'expiresAt',
          'id',
          'name',
          'permissions',
          'revokedAt',
          'role',
          'scope',
        ].sort(),
      );
    });

    it('two instances on one storage (two replicas): a token issued by one admits at the other, a revocation by one refuses at the other at once', async () => {
      const replica = await another();
      const { token, record } = await f.store.issue(auditor({ permissions: ['audit-payload'] }));
      expect(await replica.authenticate(token)).toEqual({
        ...record,
        parsedScope: { kind: 'land', land: 'SN' },
      });
      // Both checked it, each could have kept an answer: the revocation must reach the very next check.
      expect((await f.store.authenticate(token)).id).toBe(record.id);
      expect((await replica.revoke(record.id))?.changed).toBe(true);
      expect(await refusal(f.store.authenticate(token))).toBe(
        `GW_ERR_TOKEN_INVALID: token ${record.id} is revoked`,
      );
      expect(await refusal(replica.authenticate(token))).toBe(
        `GW_ERR_TOKEN_INVALID: token ${record.id} is revoked`,
      );
      expect((await f.store.revoke(record.id))?.changed).toBe(false);

      const second = await replica.issue({
        role: 'operator',
        scope: '*',
        lifetimeMs: 60_000,
        createdBy: 'cli',
      });
      expect((await f.store.authenticate(second.token)).id).toBe(second.record.id);
      expect((await f.store.list()).map((r) => r.id)).toEqual(
        expect.arrayContaining([record.id, second.record.id]),
      );
      expect(await f.store.list()).toEqual(await replica.list());
    });

    it('a third instance opened later finds the tokens issued before (a restarted replica)', async () => {
      const { token, record } = await f.store.issue(auditor());
      await f.store.revoke((await f.store.issue(auditor())).record.id);
      const restarted = await another();
      expect((await restarted.authenticate(token)).id).toBe(record.id);
      expect((await restarted.list()).map((r) => statusOf(r)).sort()).toEqual(['active', 'revoked']);
    });

    it('answers many concurrent checks and revokes racing from two instances revoke exactly once', async () => {
      const replica = await another();
      const { token, record } = await f.store.issue(auditor());
      const checks = await Promise.all(
        Array.from({ length: 50 }, (_, i) => (i % 2 ? replica : f.store).authenticate(token)),
      );
      expect(new Set(checks.map((c) => c.id))).toEqual(new Set([record.id]));
      const revokes = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? replica : f.store).revoke(record.id)),
      );
      expect(revokes.filter((r) => r?.changed)).toHaveLength(1);
      for (const r of revokes) expect(r?.record.revokedAt).toEqual(expect.any(String));
    });

    it('exports every token with the SHA-256 of its secret, oldest first, as list() gives the records', async () => {
      const issued: Awaited<ReturnType<TokenStore['issue']>>[] = [];
      for (const i of [0, 1, 2]) {
        issued.push(
          await f.store.issue(auditor({ name: `holder ${i}`, now: new Date(Date.UTC(2030, 0, 3 - i)) })),
        );
      }
      await f.store.revoke(issued[1]!.record.id, new Date('2030-01-05T00:00:00.000Z'));
      const exported = await f.store.exportAll();
      expect(exported.map((t) => t.record)).toEqual(await f.store.list());
      expect(exported.map((t) => t.record.id)).toEqual(issued.map((i) => i.record.id).reverse());
      for (const { token, record } of issued) {
        const stored = exported.find((t) => t.record.id === record.id)!;
        expect(Buffer.isBuffer(stored.secretHash)).toBe(true);
        expect(stored.secretHash.equals(sha256(token.slice(17)))).toBe(true);
      }
      expect(exported.find((t) => t.record.id === issued[1]!.record.id)?.record.revokedAt).toBe(
        '2030-01-05T00:00:00.000Z',
      );
    });

    it('imports tokens exactly as stored elsewhere: the same secret admits with role, scope and permissions; revoked stays revoked, expired stays expired', async () => {
      const live = await f.store.issue(
        auditor({ permissions: ['audit-payload'], name: 'Prüferin', createdBy: 'operator-7' }),
      );
      const revoked = await f.store.issue({
        role: 'operator',
        scope: '*',
        lifetimeMs: parseDuration('30d'),
        createdBy: 'cli',
      });
      await f.store.revoke(revoked.record.id, new Date('2026-11-01T10:00:00.123Z'));
      const expired = await f.store.issue(
        auditor({ scope: 'system:st-melde', lifetimeMs: 60_000, now: new Date('2026-01-01T00:00:00.000Z') }),
      );
      const target = await fresh();
      expect(await target.list()).toEqual([]);
      for (const token of await f.store.exportAll())
        expect(await target.importRecord(token)).toEqual({ imported: true });

      expect(await target.list()).toEqual(await f.store.list());
      expect(await target.exportAll()).toEqual(await f.store.exportAll());
      expect(await target.authenticate(live.token)).toEqual({
        ...live.record,
        parsedScope: { kind: 'land', land: 'SN' },
      });
      expect(await refusal(target.authenticate(revoked.token))).toBe(
        `GW_ERR_TOKEN_INVALID: token ${revoked.record.id} is revoked`,
      );
      expect((await target.list()).find((r) => r.id === revoked.record.id)?.revokedAt).toBe(
        '2026-11-01T10:00:00.123Z',
      );
      expect(await refusal(target.authenticate(expired.token))).toBe(
        `GW_ERR_TOKEN_INVALID: token ${expired.record.id} is expired`,
      );
      // Imported, it is a token like any other: the target can revoke it.
      expect((await target.revoke(live.record.id))?.changed).toBe(true);
      expect(await refusal(target.authenticate(live.token))).toBe(
        `GW_ERR_TOKEN_INVALID: token ${live.record.id} is revoked`,
      );
      expect((await f.store.authenticate(live.token)).id).toBe(live.record.id);
    });

    it('an import finding the id taken writes nothing and returns the stored token, identical or not', async () => {
      const { token, record } = await f.store.issue(auditor());
      const [stored] = await f.store.exportAll();
      // The store the token was issued in already holds it.
      expect(await f.store.importRecord(stored!)).toEqual({ imported: false, existing: stored });

      const target = await fresh();
      expect(await target.importRecord(stored!)).toEqual({ imported: true });
      expect(await target.importRecord(stored!)).toEqual({ imported: false, existing: stored });
      const other: StoredToken = {
        record: {
          ...record,
          name: 'someone else',
          revokedAt: '2030-01-01T00:00:00.000Z',
          permissions: ['audit-payload'],
        },
        secretHash: sha256('B'.repeat(43)),
      };
      expect(await target.importRecord(other)).toEqual({ imported: false, existing: stored });
      expect(await target.exportAll()).toEqual([stored]);
      expect((await target.authenticate(token)).id).toBe(record.id);
      expect(await refusal(target.authenticate(`gwt_${record.id}_${'B'.repeat(43)}`))).toBe(
        'GW_ERR_TOKEN_INVALID: unknown token',
      );
    });

    it('refuses to import a token no store could have minted, and writes nothing', async () => {
      await f.store.issue(auditor({ permissions: ['audit-payload'] }));
      const [good] = await f.store.exportAll();
      const target = await fresh();
      const bad: [string, Partial<StoredToken['record']>, Buffer?][] = [
        ['id not hex', { id: 'XYZXYZXYZXYZ' }],
        ['id too short', { id: '0123456789a' }],
        ['hash too short', {}, good!.secretHash.subarray(1)],
        ['role system', { role: 'system' as 'auditor' }],
        ['scraper with a scope', { role: 'scraper', permissions: [] }],
        ['scraper with a permission', { role: 'scraper', scope: '*' }],
        ['unknown Land', { scope: 'land:XX' }],
        ['scope not canonical', { scope: 'land:sn' }],
        ['unknown permission', { permissions: ['everything' as 'audit-payload'] }],
        ['repeated permission', { permissions: ['audit-payload', 'audit-payload'] }],
        ['date without time', { createdAt: '2030-01-01' }],
        ['expiry without milliseconds', { expiresAt: '2030-01-01T00:00:00Z' }],
        ['revocation not a time', { revokedAt: 'yesterday' }],
      ];
      for (const [why, change, hash] of bad) {
        const token = { record: { ...good!.record, ...change }, secretHash: hash ?? good!.secretHash };
        expect(`${why}: ${await refusal(target.importRecord(token))}`).toMatch(
          new RegExp(`^${why}: GW_ERR_BAD_REQUEST: token .* cannot be imported`),
        );
      }
      expect(await target.exportAll()).toEqual([]);
    });

    it('two instances importing the same token at once store it once', async () => {
      const source = await fresh();
      const { token, record } = await source.issue(auditor());
      const [stored] = await source.exportAll();
      const replica = await another();
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? replica : f.store).importRecord(stored!)),
      );
      expect(results.filter((r) => r.imported)).toHaveLength(1);
      for (const r of results) if (!r.imported) expect(r.existing).toEqual(stored);
      expect(await f.store.exportAll()).toEqual([stored]);
      expect((await replica.authenticate(token)).id).toBe(record.id);
    });
  });
}
