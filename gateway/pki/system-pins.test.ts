/**
 * SystemPins over a shared store: a re-pin made elsewhere is seen at the next read, and a pin that
 * cannot be confirmed current is never used — the check refuses with GW_ERR_NOT_READY instead of
 * falling back to the pin it last saw. The store is an in-memory stand-in whose reads can be made
 * to fail; the timers are vitest's, so nothing here waits on the clock.
 */

import { X509Certificate } from 'node:crypto';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isGatewayError } from '../errors/catalogue.ts';
import { createLogger } from '../log/logger.ts';
import { senderSignatureVerifier } from '../pipeline/sender-signature.ts';
import type {
  PinInput,
  PinResult,
  SystemCertificate,
  SystemCertificateStore,
} from '../ports/system-certificate-store.ts';
import { systemUri } from './bootstrap.ts';
import { createCa, issueCertificate } from './ca.ts';
import { describeSystemCertificate } from './system-certificate.ts';
import { SystemPins } from './system-pins.ts';
import { registerSystemPinGauges } from './system-pins-gauge.ts';

const logger = createLogger({ level: 'silent' });
const ca = createCa({ commonName: 'Pins CA', days: 30, keyAlgorithm: 'rsa-2048' });
const certificate = (id: string) =>
  new X509Certificate(
    issueCertificate(ca, {
      commonName: id,
      sanUris: [systemUri(id)],
      usage: ['client', 'signing'],
      days: 30,
      keyAlgorithm: 'ec-p256',
    }).certPem,
  );

class MemoryStore implements SystemCertificateStore {
  constructor(readonly kind: 'file' | 'postgres' = 'postgres') {}
  rows: SystemCertificate[] = [];
  failing: Error | null = null;
  reads = 0;
  pinCertificate(systemId: string, cert: X509Certificate): void {
    this.rows.push(describeSystemCertificate(systemId, cert, { at: new Date().toISOString(), by: 'test' }));
  }
  private check(): void {
    this.reads++;
    if (this.failing) throw this.failing;
  }
  async version(): Promise<string> {
    this.check();
    return String(this.rows.length);
  }
  async pins(): Promise<SystemCertificate[]> {
    this.check();
    const latest = new Map(this.rows.map((row) => [row.systemId, row]));
    return [...latest.values()];
  }
  async current(systemId: string): Promise<SystemCertificate | null> {
    return (await this.pins()).find((row) => row.systemId === systemId) ?? null;
  }
  async history(systemId: string): Promise<SystemCertificate[]> {
    return this.rows.filter((row) => row.systemId === systemId);
  }
  pin(_input: PinInput): Promise<PinResult> {
    throw new Error('not used');
  }
  pinIfAbsent(_input: PinInput): Promise<PinResult> {
    throw new Error('not used');
  }
  async close(): Promise<void> {}
}

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'admitted';
  } catch (error) {
    return isGatewayError(error) ? error.code : String(error);
  }
}

describe('SystemPins over a shared store', () => {
  let store: MemoryStore;
  let pins: SystemPins | undefined;
  beforeEach(() => {
    vi.useFakeTimers();
    store = new MemoryStore();
  });
  afterEach(() => {
    pins?.close();
    vi.useRealTimers();
  });

  it('holds the pins in memory and takes a re-pin made elsewhere at the next poll', async () => {
    const first = certificate('sn-melde');
    store.pinCertificate('sn-melde', first);
    pins = await SystemPins.open(store, { logger, pollMs: 250 });
    expect((await pins.pinnedCertificate('sn-melde'))?.raw).toEqual(first.raw);
    expect(await pins.pinnedCertificate('st-melde')).toBeNull();
    const reads = store.reads;
    await pins.pinnedCertificate('sn-melde');
    expect(store.reads).toBe(reads);

    const second = certificate('sn-melde');
    store.pinCertificate('sn-melde', second);
    await vi.advanceTimersByTimeAsync(250);
    expect((await pins.pinnedCertificate('sn-melde'))?.raw).toEqual(second.raw);
  });

  it('shows on /metrics how old the pins are and whether they count (the replica stays ready meanwhile)', async () => {
    store.pinCertificate('sn-melde', certificate('sn-melde'));
    pins = await SystemPins.open(store, { logger, pollMs: 250, maxAgeMs: 2_000 });
    const registry = new Registry();
    registerSystemPinGauges(registry, pins);
    const value = async (name: string) => (await registry.getSingleMetric(name)!.get()).values[0]!.value;
    expect(await value('gateway_system_pins_current')).toBe(1);
    store.failing = new Error('connection refused');
    await vi.advanceTimersByTimeAsync(3_000);
    expect(await value('gateway_system_pins_current')).toBe(0);
    expect(await value('gateway_system_pins_age_seconds')).toBeGreaterThanOrEqual(2.75);
  });

  it('refuses to open when the store cannot be read', async () => {
    store.failing = new Error('connection refused');
    await expect(SystemPins.open(store, { logger })).rejects.toThrow('connection refused');
  });

  it('fails closed: after a failed poll the last pin is not used while the store is down; a read after it recovers takes the new pin', async () => {
    const first = certificate('sn-melde');
    store.pinCertificate('sn-melde', first);
    pins = await SystemPins.open(store, { logger, pollMs: 250, maxAgeMs: 60_000 });
    store.failing = new Error('connection refused');
    await vi.advanceTimersByTimeAsync(250);
    expect(pins.status()).toMatchObject({ ok: false });
    expect(await code(pins.pinnedCertificate('sn-melde'))).toBe('GW_ERR_NOT_READY');
    // Still down polls later: still refused, however long the last pin was good for (maxAgeMs 60 s).
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await code(pins.pinnedCertificate('sn-melde'))).toBe('GW_ERR_NOT_READY');

    // Back, with the pin replaced meanwhile: the next poll confirms it and the check uses the new one.
    const second = certificate('sn-melde');
    store.pinCertificate('sn-melde', second);
    store.failing = null;
    await vi.advanceTimersByTimeAsync(250);
    expect((await pins.pinnedCertificate('sn-melde'))?.raw).toEqual(second.raw);
    expect(pins.status()).toMatchObject({ ok: true });
  });

  it('fails closed when the last successful read is older than maxAgeMs, even without an error (a hung poll)', async () => {
    store.pinCertificate('sn-melde', certificate('sn-melde'));
    pins = await SystemPins.open(store, { logger, pollMs: 60_000, maxAgeMs: 2_000, confirmTimeoutMs: 1_000 });
    let release: () => void = () => {};
    store.version = () =>
      new Promise<string>((resolve) => {
        release = () => resolve('hung');
      });
    await vi.advanceTimersByTimeAsync(2_001);
    const check = code(pins.pinnedCertificate('sn-melde'));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await check).toBe('GW_ERR_NOT_READY');
    release();
  });

  it('the sender-signature check passes the refusal on as GW_ERR_NOT_READY (retry), not as a bad signature', async () => {
    store.pinCertificate('sn-melde', certificate('sn-melde'));
    pins = await SystemPins.open(store, { logger, maxAgeMs: 60_000 });
    store.failing = new Error('connection refused');
    await vi.advanceTimersByTimeAsync(250);
    const open = pins;
    const verify = senderSignatureVerifier({
      pinnedCertificate: (id) => open.pinnedCertificate(id),
      verifySignedBy: async () => {
        throw new Error('not reached');
      },
    });
    expect(await code(verify('<x/>', 'sn-melde', {} as Document))).toBe('GW_ERR_NOT_READY');
    store.failing = null;
    await vi.advanceTimersByTimeAsync(250);
    expect(await code(verify('<x/>', 'nobody', {} as Document))).toBe('GW_ERR_SIGNATURE_INVALID');
  });
});

describe('SystemPins over a store of kind file', () => {
  // Told apart by the port's discriminant, not by class: any store that says it is files is read on
  // each use, never cached — a cached pin there would have nothing polling it.
  it('reads the store on each use and has no poll: a re-pin counts at once', async () => {
    vi.useFakeTimers();
    const store = new MemoryStore('file');
    const first = certificate('sn-melde');
    store.pinCertificate('sn-melde', first);
    const pins = await SystemPins.open(store, { logger, pollMs: 250 });
    try {
      expect(store.reads).toBe(0);
      expect((await pins.pinnedCertificate('sn-melde'))?.raw).toEqual(first.raw);
      const second = certificate('sn-melde');
      store.pinCertificate('sn-melde', second);
      expect((await pins.pinnedCertificate('sn-melde'))?.raw).toEqual(second.raw);
      expect((await pins.pinnedCertificates()).get('sn-melde')?.raw).toEqual(second.raw);
      const reads = store.reads;
      await vi.advanceTimersByTimeAsync(1_000);
      expect(store.reads).toBe(reads);
      expect(pins.status()).toEqual({ ok: true, ageMs: 0 });
    } finally {
      pins.close();
      vi.useRealTimers();
    }
  });
});

describe('SystemPins.pinnedCertificates over a shared store', () => {
  it('is the map the poll keeps: a re-pin shows after the next poll, without a read of its own', async () => {
    vi.useFakeTimers();
    const store = new MemoryStore();
    store.pinCertificate('sn-melde', certificate('sn-melde'));
    store.pinCertificate('st-melde', certificate('st-melde'));
    const pins = await SystemPins.open(store, { logger, pollMs: 250 });
    try {
      const reads = store.reads;
      expect([...(await pins.pinnedCertificates()).keys()].sort()).toEqual(['sn-melde', 'st-melde']);
      expect(store.reads).toBe(reads);
      const second = certificate('sn-melde');
      store.pinCertificate('sn-melde', second);
      await vi.advanceTimersByTimeAsync(250);
      expect((await pins.pinnedCertificates()).get('sn-melde')?.raw).toEqual(second.raw);
    } finally {
      pins.close();
      vi.useRealTimers();
    }
  });
});
