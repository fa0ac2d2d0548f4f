/**
 * Taking over a chain, on a real SQLite audit store and watermark store: a chain that only this
 * process writes after what the catch-up covered reads no store and replays nothing; a chain
 * another process wrote to after that gets the callbacks after its stored mark handed over again,
 * never this process's own entries, and its mark is held until they are handed over. A partition's
 * chain that comes back after another process appended to it meanwhile is taken over again; a gap
 * found while another waits is replayed only after a wait of its own, so a live writer whose mark
 * advances as usual is never replayed, however often it takes turns; a crashed one is. The main
 * chain, shared by replicas on purpose, is decided at its first touch. A replay reads its own
 * chain's stored mark, not every chain's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AuditLog } from '../audit/audit-log.ts';
import { SqliteAuditStore } from '../audit/sqlite-audit-store.ts';
import { createLogger } from '../log/logger.ts';
import type { AuditEntry, AuditStore } from '../ports/audit-store.ts';
import { CallbackWatermarks } from './callback-watermarks.ts';
import { ChainTakeovers } from './chain-takeovers.ts';
import { SqliteCallbackWatermarkStore } from './sqlite-callback-watermark-store.ts';

const logger = createLogger({ level: 'silent' });
const delivered = (messageId: string) => ({
  kind: 'delivered' as const,
  actor: 'gateway',
  messageId,
  senderSystem: 'sn-melde',
  receiverSystem: 'st-melde',
});

describe('chain takeovers', () => {
  let dir: string;
  let audit: SqliteAuditStore;
  let marks: SqliteCallbackWatermarkStore;
  let watermarks: CallbackWatermarks;
  let reads: number;
  let allMarksReads: number;
  /** The stored marks as the test reads them, not counted. */
  let storedMarks: () => Promise<Map<string, number> | undefined>;
  let handedOver: AuditEntry[];
  let takeovers: ChainTakeovers;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'gw-chain-takeovers-'));
    audit = new SqliteAuditStore({
      file: path.join(dir, 'audit.sqlite'),
      sync: 'NORMAL',
      projectionDelayMs: 1e9,
    });
    marks = new SqliteCallbackWatermarkStore(path.join(dir, 'callbacks.sqlite'));
    // Counted: the mark reads of the replays. A replay reads its own chain's mark, never every chain's.
    const read = marks.read.bind(marks);
    const readMark = marks.readMark.bind(marks);
    reads = 0;
    allMarksReads = 0;
    marks.readMark = (chain) => {
      reads++;
      return readMark(chain);
    };
    marks.read = () => {
      allMarksReads++;
      return read();
    };
    storedMarks = read;
    // Kept storage: the marks below are what earlier processes wrote.
    await marks.advance(new Map());
    watermarks = new CallbackWatermarks({ store: marks, logger, intervalMs: 5, settleMs: 0 });
    handedOver = [];
    takeovers = new ChainTakeovers({ store: audit, watermarks, handOver: (e) => handedOver.push(e), logger });
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    expect(allMarksReads).toBe(0);
    await watermarks.stop();
    await audit.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads nothing for a chain this process goes on writing right after what the catch-up covered', async () => {
    const log = new AuditLog(audit, { chain: 'gw-a' });
    await log.record(delivered('m1'));
    const head = await log.record(delivered('m2'));
    takeovers.caughtUp('gw-a', head.seq);
    // A re-append of an entry the catch-up covered decides nothing.
    takeovers.appended(head);
    takeovers.appended(await log.record(delivered('m3')));
    takeovers.appended(await log.record(delivered('m4')));
    // A new chain, begun by this process.
    takeovers.appended(await new AuditLog(audit, { chain: 'gw-new' }).record(delivered('m5')));
    await takeovers.idle();
    expect(reads).toBe(0);
    expect(handedOver).toEqual([]);
  });

  it("hands over the callbacks after the stored mark of a chain another wrote to, not this process's own", async () => {
    const chain = 'delivery.st-melde.3';
    const other = new AuditLog(audit, { chain });
    const published = await other.record(delivered('published'));
    await marks.advance(new Map([[chain, published.seq]]));
    await other.record({ kind: 'received', actor: 'gateway', messageId: 'no-callback' });
    const lost = await other.record(delivered('lost'));

    let publishLost!: (onTheBus: boolean) => void;
    const lostOnTheBus = new Promise<boolean>((r) => (publishLost = r));
    takeovers = new ChainTakeovers({
      store: audit,
      watermarks,
      handOver: (e) => {
        handedOver.push(e);
        watermarks.publishing(e.chain, e.seq, lostOnTheBus);
      },
      logger,
    });

    const mine = new AuditLog(audit, { chain });
    const first = await mine.record(delivered('mine-1'));
    watermarks.release();
    takeovers.appended(first);
    watermarks.passed(chain, first.seq);
    // Appended while the replay is under way: this process hands it over itself.
    const second = await mine.record(delivered('mine-2'));
    takeovers.appended(second);
    watermarks.passed(chain, second.seq);
    await new Promise((r) => setTimeout(r, 20));
    await takeovers.idle();

    expect(handedOver.map((e) => e.messageId)).toEqual(['lost']);
    expect(handedOver[0]!.seq).toBe(lost.seq);
    expect(reads).toBe(1);
    // The mark waits for the replayed callback, then passes this process's own entries.
    const storedMark = async () => (await storedMarks())?.get(chain);
    await new Promise((r) => setTimeout(r, 30));
    expect(await storedMark()).toBe(lost.seq - 1);
    publishLost(true);
    await new Promise((r) => setTimeout(r, 30));
    expect(await storedMark()).toBe(second.seq);
    reads = 0;
    // Its own again: later entries read nothing.
    takeovers.appended(await mine.record(delivered('mine-3')));
    await takeovers.idle();
    expect(reads).toBe(0);
  });

  it("reads only the gap's chain's mark, among 200 chains' marks stored", async () => {
    const chain = 'delivery.st-melde.1';
    const other = new AuditLog(audit, { chain });
    const published = await other.record(delivered('published'));
    const lost = await other.record(delivered('lost'));
    // Neighbours whose names share a prefix with the chain, their marks far off from its own.
    const stored = new Map<string, number>();
    for (let p = 0; stored.size < 200; p++)
      for (const system of ['st-melde', 'st-melde-test']) {
        stored.set(`delivery.${system}.${p}`, p === 1 && system === 'st-melde' ? published.seq : 1_000 + p);
        stored.set(`delivery.${system}.${p}.retry`, 0);
      }
    await marks.advance(stored);
    expect((await storedMarks())?.size).toBe(200);
    takeovers = new ChainTakeovers({
      store: audit,
      watermarks,
      handOver: (e) => handedOver.push(e),
      logger,
      replayDelayMs: 0,
    });
    takeovers.appended(await new AuditLog(audit, { chain }).record(delivered('mine')));
    await takeovers.idle();
    expect(handedOver.map((e) => e.seq)).toEqual([lost.seq]);
    expect(reads).toBe(1);
    // (afterEach: no replay read every chain's mark.)
  });

  /** Hands each entry over as message-follow-ups.ts does: its callback published at once. */
  const publishingAtOnce = () =>
    new ChainTakeovers({
      store: audit,
      watermarks,
      handOver: (e) => {
        handedOver.push(e);
        watermarks.publishing(e.chain, e.seq, Promise.resolve(true));
      },
      logger,
    });
  const storedMark = async (chain: string) => (await storedMarks())?.get(chain);
  /** What this process appends: told to the takeovers, then handed over (the audit listener's order). */
  const appendAs = (t: ChainTakeovers, log: AuditLog) => async (messageId: string) => {
    const entry = await log.record(delivered(messageId));
    t.appended(entry);
    watermarks.passed(entry.chain, entry.seq);
    return entry;
  };

  it('takes a partition chain over again when it comes back after another process appended to it', async () => {
    const chain = 'delivery.st-melde.5';
    takeovers = publishingAtOnce();
    watermarks.release();
    const mine = appendAs(takeovers, new AuditLog(audit, { chain }));
    const other = new AuditLog(audit, { chain });
    await mine('mine-1');
    const before = await mine('mine-2');
    await takeovers.idle();
    // This process's own chain so far: nothing read, its mark written.
    await vi.waitFor(async () => expect(await storedMark(chain)).toBe(before.seq));

    // The partition moves away: the other process publishes one callback and writes its mark, then
    // appends one more and crashes before that callback reaches the bus.
    const published = await other.record(delivered('published'));
    await marks.advance(new Map([[chain, published.seq]]));
    const lost = await other.record(delivered('lost'));
    // The partition comes back.
    handedOver = [];
    reads = 0;
    const back = await mine('mine-3');
    expect(back.seq).toBe(lost.seq + 1);
    await takeovers.idle();
    expect(handedOver.map((e) => e.messageId)).toEqual(['lost']);
    expect(reads).toBe(1);
    await vi.waitFor(async () => expect(await storedMark(chain)).toBe(back.seq));

    // Its own again from here: one map lookup per entry, nothing read.
    reads = 0;
    await mine('mine-4');
    await takeovers.idle();
    expect(reads).toBe(0);
    expect(handedOver.map((e) => e.messageId)).toEqual(['lost']);
  });

  it('replays the most recent window of a wide gap, one cut-off for every kind, and warns of the older', async () => {
    const chain = 'delivery.st-melde.8';
    const WINDOW = 5;
    takeovers = new ChainTakeovers({
      store: audit,
      watermarks,
      handOver: (e) => {
        handedOver.push(e);
        watermarks.publishing(e.chain, e.seq, Promise.resolve(true));
      },
      logger,
      window: WINDOW,
    });
    const warn = vi.spyOn(logger, 'warn');
    watermarks.release();
    const mine = appendAs(takeovers, new AuditLog(audit, { chain }));
    const own = await mine('mine-1');
    await takeovers.idle();
    await vi.waitFor(async () => expect(await storedMark(chain)).toBe(own.seq));
    // Another process appends a gap wider than the window, its kinds interleaved, and crashes: no mark.
    const other = new AuditLog(audit, { chain });
    const gap: AuditEntry[] = [];
    for (let i = 0; i < 4 * WINDOW; i++)
      gap.push(
        await other.record({ ...delivered(`other-${i}`), kind: i % 2 ? 'acknowledged' : 'delivered' }),
      );
    await mine('mine-2');
    await takeovers.idle();
    // As the catch-up would: the last WINDOW seqs of the gap, whatever their kinds.
    expect(handedOver.map((e) => e.seq)).toEqual(gap.slice(-WINDOW).map((e) => e.seq));
    expect(warn).toHaveBeenCalledWith(
      { chain, watermark: own.seq, fromSeq: gap.at(-WINDOW)!.seq, gap: [gap[0]!.seq, gap.at(-1)!.seq] },
      'callbacks of entries older than the catch-up window are not sent again',
    );
  });

  it('holds the mark of a partition chain below the gap until its replay has handed it over', async () => {
    const chain = 'delivery.st-melde.6';
    takeovers = new ChainTakeovers({
      store: audit,
      watermarks,
      handOver: (e) => {
        handedOver.push(e);
        watermarks.publishing(e.chain, e.seq, Promise.resolve(true));
      },
      logger,
      replayDelayMs: 60_000,
    });
    watermarks.release();
    const mine = appendAs(takeovers, new AuditLog(audit, { chain }));
    const other = new AuditLog(audit, { chain });
    const own = await mine('mine-1');
    const lost = await other.record(delivered('lost'));
    await mine('mine-2');
    // The replay waits for the other writer's mark: meanwhile this process's mark stops below the gap.
    await vi.waitFor(async () => expect(await storedMark(chain)).toBe(own.seq));
    await new Promise((r) => setTimeout(r, 50));
    expect(await storedMark(chain)).toBe(own.seq);
    expect(handedOver).toEqual([]);
    await takeovers.idle();
    expect(handedOver.map((e) => e.seq)).toEqual([lost.seq]);
  });

  it('replays the gaps found while one waits only after a wait of their own, never its own entries', async () => {
    const chain = 'delivery.st-melde.7';
    // The replays' waits end when the test says so; every other timer runs as it would.
    const DELAY = 123_456;
    const waits: (() => void)[] = [];
    const realSetTimeout = globalThis.setTimeout;
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      if (ms !== DELAY) return realSetTimeout(fn, ms);
      waits.push(fn);
      return realSetTimeout(() => {}, 0);
    }) as typeof setTimeout);
    takeovers = new ChainTakeovers({
      store: audit,
      watermarks,
      handOver: (e) => handedOver.push(e),
      logger,
      replayDelayMs: DELAY,
    });
    const mine = appendAs(takeovers, new AuditLog(audit, { chain }));
    const other = new AuditLog(audit, { chain });
    await mine('mine-1');
    // Away, back, away again, back again (twice) while the first replay still waits.
    await other.record(delivered('other-1'));
    await mine('mine-2');
    await other.record(delivered('other-2'));
    await mine('mine-3');
    await other.record(delivered('other-3'));
    await mine('mine-4');
    expect(waits).toHaveLength(1);
    // The first wait ends: only the gap found before it began is replayed, and the next wait begins.
    waits[0]!();
    await vi.waitFor(() => expect(handedOver.map((e) => e.messageId)).toEqual(['other-1']));
    expect(reads).toBe(1);
    expect(waits).toHaveLength(2);
    // The gaps found meanwhile, together, once their own wait ends: one more read.
    waits[1]!();
    await vi.waitFor(() =>
      expect(handedOver.map((e) => e.messageId)).toEqual(['other-1', 'other-2', 'other-3']),
    );
    expect(reads).toBe(2);
    await takeovers.idle();
  });

  it("never hands a live writer's entries over however often the two take turns, still a crashed one's", async () => {
    const chain = 'delivery.st-melde.10';
    // Both stacks as a gateway runs them, scaled down: a mark written 80 ms after its publish at most.
    const timing = { intervalMs: 20, settleMs: 60 };
    // (The one made before is never released: it writes nothing.)
    watermarks = new CallbackWatermarks({ store: marks, logger, ...timing });
    takeovers = publishingAtOnce();
    watermarks.release();
    const mine = appendAs(takeovers, new AuditLog(audit, { chain }));
    // The live writer: its callbacks published at once, its mark advancing as any process's does.
    const liveMarks = new SqliteCallbackWatermarkStore(path.join(dir, 'callbacks.sqlite'));
    const live = new CallbackWatermarks({ store: liveMarks, logger, ...timing });
    live.release();
    const liveLog = new AuditLog(audit, { chain });
    const liveAppend = async (messageId: string) => {
      const entry = await liveLog.record(delivered(messageId));
      live.publishing(chain, entry.seq, Promise.resolve(true));
      return entry;
    };
    try {
      const until = Date.now() + 1_000;
      for (let i = 0; Date.now() < until; i++) {
        await mine(`mine-${i}`);
        await liveAppend(`live-${i}`);
        await new Promise((r) => setTimeout(r, 2));
      }
      // The live writer pauses; another one appends and crashes before its callback reaches the bus.
      const lost = await new AuditLog(audit, { chain }).record(delivered('lost'));
      await mine('mine-last');
      // Every replay on its own time (idle() would cut the last waits short).
      await new Promise((r) => setTimeout(r, 600));
      await takeovers.idle();
      expect(handedOver.filter((e) => e.messageId?.startsWith('live-')).map((e) => e.messageId)).toEqual([]);
      expect(handedOver.map((e) => e.seq)).toEqual([lost.seq]);
    } finally {
      await live.stop();
    }
  });

  it('hands over what another process appended while a replay of the chain was reading', async () => {
    const chain = 'delivery.st-melde.8';
    // The replay's reads answer only when the test says so, with what the store held when asked.
    let answer!: () => void;
    const answered = new Promise<void>((r) => (answer = r));
    let queries = 0;
    const gated: AuditStore = Object.create(audit);
    gated.query = (filter) => {
      queries++;
      const result = audit.query(filter);
      return answered.then(() => result);
    };
    takeovers = new ChainTakeovers({
      store: gated,
      watermarks,
      handOver: (e) => handedOver.push(e),
      logger,
      replayDelayMs: 0,
    });
    const mine = appendAs(takeovers, new AuditLog(audit, { chain }));
    const other = new AuditLog(audit, { chain });
    await other.record(delivered('other-1'));
    await mine('mine-1');
    await vi.waitFor(() => expect(queries).toBeGreaterThan(0));
    // The partition leaves and comes back while the first replay reads.
    await other.record(delivered('other-2'));
    await mine('mine-2');
    answer();
    await takeovers.idle();
    expect(handedOver.map((e) => e.messageId)).toEqual(['other-1', 'other-2']);
  });

  it("replays nothing for its own entries whose listener ran after a later one's", async () => {
    const chain = 'delivery.st-melde.9';
    const log = new AuditLog(audit, { chain });
    const first = await log.record(delivered('mine-1'));
    takeovers.appended(first);
    const [second, third] = await Promise.all([
      log.record(delivered('mine-2')),
      log.record(delivered('mine-3')),
    ]);
    expect(third!.seq).toBe(second!.seq + 1);
    takeovers.appended(third!);
    takeovers.appended(second!);
    await takeovers.idle();
    expect(handedOver).toEqual([]);
  });

  it('decides the main chain at its first touch: its first gap replayed once, no interleave after', async () => {
    const chain = 'main';
    takeovers = publishingAtOnce();
    watermarks.release();
    const mine = appendAs(takeovers, new AuditLog(audit, { chain }));
    const other = new AuditLog(audit, { chain });
    // Before this process's first touch a writer sharing the chain lost one callback in a crash.
    const lost = await other.record(delivered('lost'));
    await mine('mine-1');
    // Replicas sharing the chain interleave all the time, while that gap waits and after.
    for (let i = 0; i < 3; i++) {
      await other.record(delivered(`other-${i}`));
      await mine(`mine-${i + 2}`);
    }
    await takeovers.idle();
    expect(handedOver.map((e) => e.seq)).toEqual([lost.seq]);
    expect(reads).toBe(1);
    for (let i = 3; i < 6; i++) {
      await other.record(delivered(`other-${i}`));
      await mine(`mine-${i + 2}`);
    }
    await takeovers.idle();
    expect(handedOver.map((e) => e.seq)).toEqual([lost.seq]);
    expect(reads).toBe(1);
  });

  it('decides the main chain at its first touch right after the catch-up: no interleave is replayed', async () => {
    const chain = 'main';
    const mine = appendAs(takeovers, new AuditLog(audit, { chain }));
    const other = new AuditLog(audit, { chain });
    await mine('mine-1');
    await other.record(delivered('other-1'));
    await mine('mine-2');
    await other.record(delivered('other-2'));
    await mine('mine-3');
    await takeovers.idle();
    expect(handedOver).toEqual([]);
    expect(reads).toBe(0);
  });
});
