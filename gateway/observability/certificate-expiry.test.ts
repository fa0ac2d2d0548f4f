/**
 * gateway_certificate_expiry_seconds{kind="system"} reads the pins the replica holds, not the PKI
 * directory's systems/: two replicas on one PostgreSQL schema, each with its own copy of the PKI
 * (the Secret), and `gw pki issue`'s function run beside the other one. The scraping replica's
 * systems/ keeps the replaced certificate; its gauge must show the new one within a poll — and
 * without a statement of its own per scrape. Readiness does not read systems/ at all.
 */
import { X509Certificate } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { dropSchema, freshSchemaName, PG_URL } from '../../test/conformance/pg-test-schema.ts';
import { createLogger } from '../log/logger.ts';
import { ensurePki, type Pki } from '../pki/bootstrap.ts';
import { issueSystemCertificate } from '../pki/issue-system.ts';
import { connectSystemCertificateStore } from '../pki/open-system-certificate-store.ts';
import { SystemPins } from '../pki/system-pins.ts';
import type { Bus } from '../ports/bus.ts';
import type { SystemCertificateStore } from '../ports/system-certificate-store.ts';
import { createMetrics } from './metrics.ts';
import { certificatesCheck } from './readiness.ts';
import { metricsRefresher } from './scrape.ts';

const logger = createLogger({ level: 'silent' });
const SIGNING = { signingAlgorithm: 'ecdsa-p256-sha256', rsaBits: 2048 } as const;
const work = mkdtempSync(path.join(tmpdir(), 'gw-cert-expiry-'));
const openPki = (dir: string) =>
  ensurePki({
    dir,
    systems: ['sn-melde', 'st-melde'],
    passphrase: 'expiry',
    serverNames: ['localhost'],
    ...SIGNING,
  });
const serialOf = (pem: string) => new X509Certificate(pem).serialNumber.toLowerCase();
const secondsLeft = (pem: string) => (Date.parse(new X509Certificate(pem).validTo) - Date.now()) / 1000;

/** A scrape of one replica: its expiry gauge as `kind/system` → seconds. */
function scraper(pkiDir: string, systemPins: SystemPins) {
  const metrics = createMetrics();
  const refresh = metricsRefresher({
    metrics,
    bus: {} as Bus, // no systems to read lag for
    topicPrefix: 'expiry',
    systems: () => [],
    deadLetters: { list: async () => [] },
    pkiDir,
    isRevoked: () => false,
    systemPins,
    logger,
  });
  return async (): Promise<Map<string, number>> => {
    await refresh();
    const { values } = await metrics.certificateExpiry.get();
    return new Map(values.map((v) => [`${v.labels.kind}/${v.labels.system}`, v.value]));
  };
}

let secret: string;
beforeAll(async () => {
  secret = path.join(work, 'secret');
  await openPki(secret);
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('certificate expiry of the systems, replicas on one PostgreSQL', () => {
  const schema = freshSchemaName('certexpiry');
  const stores: SystemCertificateStore[] = [];
  const held: SystemPins[] = [];
  let a: Pki;
  let b: Pki;

  async function replica(name: string): Promise<Pki> {
    const dataDir = path.join(work, name);
    cpSync(secret, path.join(dataDir, 'pki'), { recursive: true });
    return openPki(path.join(dataDir, 'pki'));
  }
  async function store(pki: Pki): Promise<SystemCertificateStore> {
    const opened = await connectSystemCertificateStore(
      { dataDir: path.dirname(pki.dir), databaseUrl: PG_URL, databaseSchema: schema },
      { logger },
    );
    stores.push(opened);
    return opened;
  }

  beforeAll(async () => {
    a = await replica('gateway-0');
    b = await replica('gateway-1');
  });
  afterEach(() => vi.restoreAllMocks());
  afterAll(async () => {
    for (const pins of held) pins.close();
    for (const s of stores) await s.close();
    await dropSchema(schema);
  });

  it("shows the certificate another replica re-pinned within a poll, though this replica's systems/ keeps the replaced one; the gateway's own as before", async () => {
    const storeB = await store(b);
    const pinsB = await SystemPins.open(storeB, { logger, pollMs: 50 });
    held.push(pinsB);
    const scrapeB = scraper(b.dir, pinsB);
    const old = readFileSync(b.systemCertPath('sn-melde'), 'utf8');
    const before = await scrapeB();
    expect(Math.abs(before.get('system/sn-melde')! - secondsLeft(old))).toBeLessThan(60);

    // `gw pki issue sn-melde` beside gateway-0, for 30 days rather than the 730 it had.
    const issued = await issueSystemCertificate(a, 'sn-melde', {
      ...SIGNING,
      days: 30,
      pins: await store(a),
    });
    expect(issued.replaced?.serialNumber.toLowerCase()).toBe(serialOf(old));
    const renewed = issued.certificate.toString();
    expect(readFileSync(b.systemCertPath('sn-melde'), 'utf8')).toBe(old);

    await expect
      .poll(async () => (await scrapeB()).get('system/sn-melde'), { timeout: 2_000, interval: 50 })
      .toBeLessThan(31 * 86_400);
    const after = await scrapeB();
    expect(Math.abs(after.get('system/sn-melde')! - secondsLeft(renewed))).toBeLessThan(60);
    // The other system and the gateway's own certificates are what they were.
    expect(after.get('system/st-melde')).toBeCloseTo(before.get('system/st-melde')!, -2);
    for (const [kind, file] of [
      ['ca', 'ca.crt'],
      ['server', 'server.crt'],
      ['signing', 'signing.crt'],
      ['gateway-client', 'gateway-client.crt'],
    ]) {
      const own = readFileSync(path.join(b.dir, file!), 'utf8');
      expect(Math.abs(after.get(`${kind}/`)! - secondsLeft(own)), kind).toBeLessThan(60);
    }
    expect([...after.keys()].sort()).toEqual([
      'ca/',
      'gateway-client/',
      'server/',
      'signing/',
      'system/sn-melde',
      'system/st-melde',
    ]);
  });

  it('costs the store no statement per scrape: the poll alone reads it', async () => {
    const storeB = await store(b);
    const pinsB = await SystemPins.open(storeB, { logger, pollMs: 3_600_000 });
    held.push(pinsB);
    const version = vi.spyOn(storeB, 'version');
    const pins = vi.spyOn(storeB, 'pins');
    const current = vi.spyOn(storeB, 'current');
    const scrapeB = scraper(b.dir, pinsB);
    for (let i = 0; i < 5; i++) expect((await scrapeB()).has('system/sn-melde')).toBe(true);
    expect(version.mock.calls.length + pins.mock.calls.length + current.mock.calls.length).toBe(0);
  });
});

describe('certificate expiry of the systems, one host (file store)', () => {
  it('shows a re-issued certificate at the next scrape', async () => {
    const pki = await openPki(path.join(work, 'embedded', 'pki'));
    const store = await connectSystemCertificateStore({ dataDir: path.dirname(pki.dir) }, { logger });
    const pins = await SystemPins.open(store, { logger });
    try {
      const scrape = scraper(pki.dir, pins);
      const old = readFileSync(pki.systemCertPath('sn-melde'), 'utf8');
      expect(Math.abs((await scrape()).get('system/sn-melde')! - secondsLeft(old))).toBeLessThan(60);
      const issued = await issueSystemCertificate(pki, 'sn-melde', { ...SIGNING, days: 30, pins: store });
      expect(
        Math.abs((await scrape()).get('system/sn-melde')! - secondsLeft(issued.certificate.toString())),
      ).toBeLessThan(60);
    } finally {
      pins.close();
      await store.close();
    }
  });
});

describe('readiness', () => {
  it('does not read systems/ (with PostgreSQL a possibly stale copy): a file there it cannot parse does not break the check', async () => {
    const pki = await openPki(path.join(work, 'readiness', 'pki'));
    writeFileSync(path.join(pki.dir, 'systems', 'broken.crt'), 'not a certificate');
    const result = await certificatesCheck({
      pkiDir: pki.dir,
      isRevoked: () => false,
      thresholdDays: 14,
    }).check();
    expect(result).toMatchObject({ ok: true });
    expect(result.detail).toMatch(/^first to expire: /);
  });
});
