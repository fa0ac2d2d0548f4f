import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../audit/audit-log.ts';
import { SqliteAuditStore } from '../audit/sqlite-audit-store.ts';
import { SqliteBus } from '../bus/sqlite-bus.ts';
import { HEADER } from '../bus/topics.ts';
import type { BusRecord, ConsumedRecord } from '../ports/bus.ts';
import {
  InFlightPublishes,
  IngressAuditWatermark,
  PublishDoubts,
  recoveredEntriesOf,
  recoverIngressAudit,
} from './ingress-audit-recovery.ts';
import type { PublishedEntries } from './published-audit.ts';

const logger = pino({ level: 'silent' });
const TOPIC = 'gw.deliver.st-melde';
const GROUP = 'gw.ingress-audit.main';

/** A record as the ingress of `chain` publishes it. */
function ingressRecord(messageId: string, chain = 'main', extra: Record<string, string> = {}): BusRecord {
  return {
    topic: TOPIC,
    key: messageId,
    value: Buffer.from(`<signed>${messageId}</signed>`),
    headers: {
      [HEADER.messageId]: messageId,
      [HEADER.messageType]: 'xmeld:2.0:rueckmeldung',
      [HEADER.standardVersion]: 'xmeld:2.0',
      [HEADER.sender]: 'sn:01',
      [HEADER.receiver]: 'st:02',
      [HEADER.senderSystem]: 'sn-melde',
      [HEADER.receiverSystem]: 'st-melde',
      [HEADER.digest]: 'ab'.repeat(32),
      [HEADER.requestId]: `req-${messageId}`,
      [HEADER.auditChain]: chain,
      ...extra,
    },
  };
}

const consumed = (r: BusRecord, offset = 7): ConsumedRecord => ({
  ...r,
  partition: 2,
  offset: String(offset),
  timestamp: Date.parse('2026-11-29T10:00:00.000Z'),
});

describe('InFlightPublishes', () => {
  it('drain() waits for the publishes that entered before it, not for later ones', async () => {
    const inFlight = new InFlightPublishes();
    await inFlight.drain(); // none: at once
    const a = inFlight.enter();
    const b = inFlight.enter();
    let drained = false;
    const drain = inFlight.drain().then(() => {
      drained = true;
    });
    const later = inFlight.enter();
    inFlight.leave(a);
    await new Promise((r) => setTimeout(r, 10));
    expect(drained).toBe(false);
    inFlight.leave(b);
    await drain;
    expect(drained).toBe(true);
    expect(inFlight.size).toBe(1);
    let second = false;
    const drain2 = inFlight.drain().then(() => {
      second = true;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(second).toBe(false);
    inFlight.leave(later);
    await drain2;
    expect(inFlight.size).toBe(0);
  });
});

describe('recoveredEntriesOf', () => {
  it("rebuilds the ingress entries of its chain's record, keyed by message and marked recovered", () => {
    const batch = recoveredEntriesOf(consumed(ingressRecord('m-1')), 'main')!;
    expect(batch.messageIds).toEqual(['m-1']);
    expect(batch.requestId).toBe('req-m-1');
    expect(batch.entries.map((e) => e.kind)).toEqual(['received', 'accepted', 'signed', 'queued']);
    expect(batch.entries.map((e) => e.idempotencyKey)).toEqual(
      [0, 1, 2, 3].map((n) => `ingress-recovered/m-1/${n}`),
    );
    const [received, accepted, signed] = batch.entries;
    expect(received).toMatchObject({
      actor: 'system:sn-melde',
      messageId: 'm-1',
      sender: 'sn:01',
      receiver: 'st:02',
      senderSystem: 'sn-melde',
      receiverSystem: 'st-melde',
      messageType: 'xmeld:2.0:rueckmeldung',
      detail: {
        requestId: 'req-m-1',
        recoveredFrom: 'bus',
        publishedAt: '2026-11-29T10:00:00.000Z',
        busPosition: `${TOPIC}/2/7`,
      },
    });
    expect(accepted!.detail).toMatchObject({ referenzUUID: null });
    expect(signed).toMatchObject({ actor: 'gateway', digest: 'ab'.repeat(32) });
  });

  it('carries a conversion, the sender signature and the referenzUUID (the case key)', () => {
    const record = ingressRecord('m-2', 'main', {
      [HEADER.messageType]: 'xmeld:2.1:rueckmeldung',
      [HEADER.receivedType]: 'xmeld:2.0:rueckmeldung',
      [HEADER.senderSignatureDigest]: 'cd'.repeat(32),
      [HEADER.senderSignerSerial]: '0A1B',
    });
    const batch = recoveredEntriesOf(consumed({ ...record, key: 'case-9' }), 'main')!;
    expect(batch.entries.map((e) => e.kind)).toEqual([
      'received',
      'accepted',
      'converted',
      'signed',
      'queued',
    ]);
    expect(batch.entries[0]).toMatchObject({
      messageType: 'xmeld:2.0:rueckmeldung',
      detail: { senderSignature: { digest: 'cd'.repeat(32), signerSerial: '0A1B' } },
    });
    expect(batch.entries[1]!.detail).toMatchObject({ referenzUUID: 'case-9' });
    expect(batch.entries[2]).toMatchObject({
      messageType: 'xmeld:2.1:rueckmeldung',
      detail: { from: 'xmeld:2.0:rueckmeldung', to: 'xmeld:2.1:rueckmeldung' },
    });
  });

  it("writes the ingress's own keys, named by the record", () => {
    const record = ingressRecord('m-6', 'main', { [HEADER.auditKey]: 'ingress/lx9/req-7/5' });
    const batch = recoveredEntriesOf(consumed(record), 'main')!;
    expect(batch.entries.map((e) => e.idempotencyKey)).toEqual(
      [5, 6, 7, 8].map((n) => `ingress/lx9/req-7/${n}`),
    );
  });

  it("leaves records alone that are not its chain's ingress publishes", () => {
    expect(recoveredEntriesOf(consumed(ingressRecord('m-3', 'replica-b')), 'main')).toBeUndefined();
    const replayed = ingressRecord('m-4', 'main', { [HEADER.replayedFrom]: '0/12' });
    expect(recoveredEntriesOf(consumed(replayed), 'main')).toBeUndefined();
    // A receipt the gateway issued, or a record from before records named their chain.
    const { [HEADER.auditChain]: _chain, ...unnamed } = ingressRecord('m-5').headers;
    expect(
      recoveredEntriesOf(consumed({ ...ingressRecord('m-5'), headers: unnamed }), 'main'),
    ).toBeUndefined();
  });
});

describe('the ingress audit bookmark on the SQLite bus, with a SQLite audit store', () => {
  const dirs: string[] = [];
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function setUp() {
    const dir = mkdtempSync(path.join(tmpdir(), 'gw-ingress-audit-'));
    dirs.push(dir);
    const bus = new SqliteBus({ file: path.join(dir, 'bus.sqlite'), defaultPartitions: 4 });
    const store = new SqliteAuditStore({ file: path.join(dir, 'audit.sqlite') });
    closers.push(
      () => bus.close(),
      () => store.close(),
    );
    const audit = new AuditLog(store, { chain: 'main' });
    const appended: PublishedEntries[] = [];
    const recover = () =>
      recoverIngressAudit({
        bus,
        group: GROUP,
        topics: [TOPIC],
        partitions: 4,
        chain: 'main',
        isAudited: (messageId) => store.hasEvent(messageId, 'accepted'),
        append: async (batch) => {
          appended.push(batch);
          await audit.recordMany(batch.entries);
          return true;
        },
        logger,
      });
    /** Records past the bookmark, all partitions. */
    const lag = async () => (await bus.lag(GROUP, TOPIC)).reduce((n, l) => n + l.lag, 0);
    const watermark = (inFlight: InFlightPublishes, doubts: PublishDoubts) =>
      new IngressAuditWatermark({
        bus,
        group: GROUP,
        topics: () => [TOPIC],
        inFlight,
        doubts,
        recheck: recover,
        logger,
      });
    return { bus, store, audit, appended, recover, lag, watermark };
  }

  it('sets the bookmark at the first start, then writes the entries of the records past it that lack them, once', async () => {
    const { bus, store, audit, appended, recover } = setUp();
    // From before the bookmark: never read.
    await bus.publish([ingressRecord('old-1')]);
    expect(await recover()).toEqual({ scanned: 0, recovered: 0, bookmarkSet: true });

    await bus.publish([
      ingressRecord('crashed'),
      ingressRecord('audited'),
      ingressRecord('other', 'replica-b'),
    ]);
    await audit.recordMany([{ kind: 'accepted', actor: 'system:sn-melde', messageId: 'audited' }]);
    expect(await recover()).toEqual({ scanned: 3, recovered: 1, bookmarkSet: false });
    expect(appended.map((b) => b.messageIds[0])).toEqual(['crashed']);
    const trail = await store.query({ messageId: 'crashed' });
    expect(trail.map((e) => e.kind)).toEqual(['received', 'accepted', 'signed', 'queued']);
    expect(trail.every((e) => e.detail.recoveredFrom === 'bus')).toBe(true);
    expect(await store.hasEvent('old-1', 'accepted')).toBe(false);
    expect(await store.hasEvent('other', 'accepted')).toBe(false);

    // The group committed past what it read: the next start reads nothing.
    expect(await recover()).toEqual({ scanned: 0, recovered: 0, bookmarkSet: false });
  });

  it('writes under the keys the ingress gives them: its own late append of the same entries adds nothing', async () => {
    const { bus, store, audit, recover } = setUp();
    await recover();
    await bus.publish([ingressRecord('slow', 'main', { [HEADER.auditKey]: 'ingress/lx9/req-slow/0' })]);
    expect(await recover()).toMatchObject({ recovered: 1 });
    // The process that published it (sharing the chain) appends its entries after all.
    const own = (['received', 'accepted', 'signed', 'queued'] as const).map((kind, n) => ({
      kind,
      actor: kind === 'received' || kind === 'accepted' ? 'system:sn-melde' : 'gateway',
      messageId: 'slow',
      idempotencyKey: `ingress/lx9/req-slow/${n}`,
    }));
    await audit.recordMany(own);
    const trail = await store.query({ messageId: 'slow' });
    expect(trail.map((e) => e.kind)).toEqual(['received', 'accepted', 'signed', 'queued']);
    expect(trail.every((e) => e.detail.recoveredFrom === 'bus')).toBe(true);
  });

  it('moves the bookmark to the ends read before the publishes under way then had their entries', async () => {
    const { bus, recover, lag, watermark: watermarkOf } = setUp();
    await recover();
    const inFlight = new InFlightPublishes();
    const watermark = watermarkOf(inFlight, new PublishDoubts());
    const token = inFlight.enter();
    await bus.publish([ingressRecord('a'), ingressRecord('b')]);
    let moved = false;
    const advance = watermark.advance().then(() => {
      moved = true;
    });
    await new Promise((r) => setTimeout(r, 30));
    // Published after the ends were read: not covered by this move.
    await bus.publish([ingressRecord('c')]);
    expect(moved).toBe(false);
    expect(await lag()).toBe(3);
    inFlight.leave(token);
    await advance;
    expect(await lag()).toBe(1);
    await watermark.advance();
    expect(await lag()).toBe(0);
    await watermark.stop({ final: false });
  });

  it('holds the bookmark while a failed publish may still land, then writes the entries its record lacks', async () => {
    const { bus, store, audit, recover, lag, watermark: watermarkOf } = setUp();
    await recover();
    const doubts = new PublishDoubts();
    const watermark = watermarkOf(new InFlightPublishes(), doubts);
    // A request whose publish failed (503, no entries), and one accepted normally.
    let settle: () => void = () => {};
    doubts.add(
      new Promise<void>((resolve) => {
        settle = resolve;
      }),
    );
    await bus.publish([ingressRecord('accepted-normally')]);
    await audit.recordMany([{ kind: 'accepted', actor: 'system:sn-melde', messageId: 'accepted-normally' }]);
    // The failed publish lands after all, while the bus still tries.
    await bus.publish([ingressRecord('landed-late')]);
    await watermark.advance();
    expect(await lag()).toBe(2);
    expect(await store.hasEvent('landed-late', 'accepted')).toBe(false);

    // Nothing more of it can land: the records past the bookmark are checked.
    settle();
    await new Promise((r) => setImmediate(r));
    await watermark.advance();
    expect(doubts.count).toBe(0);
    expect(await lag()).toBe(0);
    const trail = await store.query({ messageId: 'landed-late' });
    expect(trail.map((e) => e.kind)).toEqual(['received', 'accepted', 'signed', 'queued']);
    expect(trail.every((e) => e.detail.recoveredFrom === 'bus')).toBe(true);
    expect((await store.query({ messageId: 'accepted-normally' })).map((e) => e.kind)).toEqual(['accepted']);

    // Back to plain moves.
    await bus.publish([ingressRecord('later')]);
    await watermark.advance();
    expect(await lag()).toBe(0);
    expect(await store.hasEvent('later', 'accepted')).toBe(false);
    await watermark.stop({ final: false });
  });

  it('reads 10,000 records past the bookmark at start', async () => {
    const { bus, audit, recover } = setUp();
    await recover();
    const ids = Array.from({ length: 10_000 }, (_, i) => `m-${i}`);
    for (let i = 0; i < ids.length; i += 500)
      await bus.publish(ids.slice(i, i + 500).map((id) => ingressRecord(id)));
    // All but the last ten were audited before the crash.
    for (let i = 0; i < ids.length - 10; i += 500) {
      await audit.recordMany(
        ids
          .slice(i, Math.min(i + 500, ids.length - 10))
          .map((messageId) => ({ kind: 'accepted' as const, actor: 'system:sn-melde', messageId })),
      );
    }
    const started = performance.now();
    const result = await recover();
    const ms = performance.now() - started;
    process.stderr.write(
      `ingress audit recovery: 10,000 records past the bookmark read in ${ms.toFixed(0)} ms\n`,
    );
    expect(result).toEqual({ scanned: 10_000, recovered: 10, bookmarkSet: false });
  }, 60_000);
});
