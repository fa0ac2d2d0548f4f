/**
 * LiveTrust over the PostgreSQL revocation store, as every replica runs it: a revocation written by
 * another process (another replica, `gw pki revoke`) is refused within a second, and the CRL follows;
 * the failure policy is closed — a store that cannot be read keeps the last list (readiness and the
 * age gauge say so after staleAfterMs), a list read back without a serial seen before keeps the
 * serial, and a gateway that cannot read the list at start does not start.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../gateway/log/logger.ts';
import { ensurePki, type Pki } from '../../gateway/pki/bootstrap.ts';
import { PgRevocationStore } from '../../gateway/pki/pg-revocation-store.ts';
import { registerRevocationGauges, revocationsCheck } from '../../gateway/pki/revocation-health.ts';
import { LiveTrust } from '../../gateway/pki/trust.ts';
import type { RevocationStore } from '../../gateway/ports/revocation-store.ts';
import { dropSchema, freshSchemaName, PG_URL, withPgClient } from './pg-test-schema.ts';

const logger = createLogger({ level: 'silent' });
let work: string;
let pki: Pki;
const schemas: string[] = [];
const closing: (() => unknown)[] = [];

async function within<T>(ms: number, probe: () => T | undefined): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (probe() !== undefined) return Date.now() - started;
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const serialOf = (id: string) =>
  new X509Certificate(readFileSync(pki.systemCertPath(id))).serialNumber.toLowerCase();

/** A replica's store and trust, and a second store on the same schema for "another process". */
async function replicaOn(options: { staleAfterMs?: number } = {}) {
  const schema = freshSchemaName('live_trust');
  schemas.push(schema);
  const store = await PgRevocationStore.connect({ url: PG_URL, schema });
  const other = await PgRevocationStore.connect({ url: PG_URL, schema });
  closing.push(
    () => store.close(),
    () => other.close(),
  );
  const trust = await LiveTrust.open(pki, { logger, revocations: store, watch: false, ...options });
  closing.unshift(() => trust.close());
  return { schema, store, other, trust };
}

const revoke = (store: RevocationStore, serial: string) =>
  store.revoke({ serial, reason: 'keyCompromise', by: 'cli' });

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'gw-live-trust-pg-'));
  pki = await ensurePki({
    dir: path.join(work, 'pki'),
    systems: ['sn-melde', 'st-melde', 'th-melde'],
    passphrase: 'live trust pg passphrase',
    signingAlgorithm: 'ecdsa-p256-sha256',
    rsaBits: 2048,
    serverNames: ['localhost'],
  });
}, 60_000);

afterEach(async () => {
  for (const close of closing.splice(0)) await close();
});

afterAll(async () => {
  for (const schema of schemas) await dropSchema(schema);
  rmSync(work, { recursive: true, force: true });
});

describe('LiveTrust over the PostgreSQL revocation store', () => {
  it('refuses a serial revoked by another process within a second; the CRL follows', async () => {
    const { other, trust } = await replicaOn();
    const serial = serialOf('sn-melde');
    expect(trust.isRevoked(serial)).toBe(false);
    expect(trust.resolveCaller.isRevoked?.(serial)).toBe(false);
    const before = trust.crlDer();
    await revoke(other, serial);
    expect(await within(1000, () => (trust.isRevoked(serial) ? true : undefined))).toBeLessThan(1000);
    expect(trust.resolveCaller.isRevoked?.(serial)).toBe(true);
    const after = trust.crlDer();
    expect(after.equals(before)).toBe(false);
    expect(after.includes(Buffer.from(serial, 'hex'))).toBe(true);
    expect(trust.revoked).toEqual([
      expect.objectContaining({ serial, reason: 'keyCompromise', revokedBy: 'cli' }),
    ]);
  });

  it('keeps refusing while the store cannot be read, turns unready after staleAfterMs, and recovers', async () => {
    const { schema, other, trust } = await replicaOn({ staleAfterMs: 300 });
    const registry = new Registry();
    registerRevocationGauges(registry, trust);
    const check = revocationsCheck(trust);
    const serial = serialOf('st-melde');
    await revoke(other, serial);
    await within(1000, () => (trust.isRevoked(serial) ? true : undefined));
    expect(await check.check()).toMatchObject({ ok: true });

    // The store becomes unreadable (as a lost database or a broken migration would make it).
    await withPgClient(schema, (c) => c.query('ALTER TABLE pki_revocation RENAME TO pki_revocation_away'));
    await within(2000, () => (trust.revocationStatus().ok ? undefined : true));
    expect(trust.isRevoked(serial)).toBe(true);
    expect(trust.crlDer().includes(Buffer.from(serial, 'hex'))).toBe(true);
    const unready = await check.check();
    expect(unready.ok).toBe(false);
    expect(unready.detail).toMatch(
      /postgres revocation store unreadable .*pki_revocation.*refusing the 1 serial/,
    );
    const metrics = await registry.metrics();
    const age = Number(/^gateway_revocation_list_age_seconds (\S+)$/m.exec(metrics)![1]);
    expect(age).toBeGreaterThan(0.3);
    expect(metrics).toMatch(/^gateway_revoked_certificates 1$/m);

    await withPgClient(schema, (c) => c.query('ALTER TABLE pki_revocation_away RENAME TO pki_revocation'));
    await within(2000, () => (trust.revocationStatus().ok ? true : undefined));
    const next = serialOf('th-melde');
    await revoke(other, next);
    await within(1000, () => (trust.isRevoked(next) ? true : undefined));
    expect(trust.isRevoked(serial)).toBe(true);
  });

  it('a list read back without a serial seen before (a restored backup) keeps refusing that serial', async () => {
    const { schema, other, trust } = await replicaOn();
    const lost = serialOf('sn-melde');
    const kept = serialOf('st-melde');
    await revoke(other, lost);
    await revoke(other, kept);
    await within(1000, () => (trust.isRevoked(lost) && trust.isRevoked(kept) ? true : undefined));
    await withPgClient(schema, (c) => c.query('DELETE FROM pki_revocation WHERE serial = $1', [lost]));
    const added = serialOf('th-melde');
    await revoke(other, added);
    await within(1000, () => (trust.isRevoked(added) ? true : undefined));
    expect(trust.isRevoked(lost)).toBe(true);
    expect(trust.revoked.map((entry) => entry.serial).sort()).toEqual([lost, kept, added].sort());
    expect(trust.crlDer().includes(Buffer.from(lost, 'hex'))).toBe(true);
  });

  it('does not open when the list cannot be read: a gateway that does not know the revocations admits no one', async () => {
    const schema = freshSchemaName('live_trust');
    schemas.push(schema);
    const store = await PgRevocationStore.connect({ url: PG_URL, schema });
    closing.push(() => store.close());
    await withPgClient(schema, (c) => c.query('ALTER TABLE pki_revocation RENAME TO pki_revocation_away'));
    await expect(LiveTrust.open(pki, { logger, revocations: store })).rejects.toThrow(/pki_revocation/);
  });
});
