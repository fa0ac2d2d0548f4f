/**
 * Taking over a chain, on a real SQLite audit store and watermark store: a chain that only this
 * process writes after what the catch-up covered reads no store and replays nothing; a chain
 * another process wrote to after that gets the callbacks after its stored mark handed over again,
 * never this process's own entries, and its mark is held until they are handed over.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../audit/audit-log.ts';
import { SqliteAuditStore } from '../audit/sqlite-audit-store.ts';
import { createLogger } from '../log/logger.ts';
import type { AuditEntry } from '../ports/audit-store.ts';
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
    const read = marks.read.bind(marks);
    reads = 0;
    marks.read = () => {
      reads++;
      return read();
    };
    // Kept storage: the marks below are what earlier processes wrote.
    await marks.advance(new Map());
    watermarks = new CallbackWatermarks({ store: marks, logger, intervalMs: 5, settleMs: 0 });
    handedOver = [];
    takeovers = new ChainTakeovers({ store: audit, watermarks, handOver: (e) => handedOver.push(e), logger });
  });
  afterEach(async () => {
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
    const storedMark = async () => (await marks.read())?.get(chain);
    await new Promise((r) => setTimeout(r, 30));
    expect(await storedMark()).toBe(lost.seq - 1);
    publishLost(true);
    await new Promise((r) => setTimeout(r, 30));
    expect(await storedMark()).toBe(second.seq);
    reads = 0;
    // Decided once: later entries read nothing.
    takeovers.appended(await mine.record(delivered('mine-3')));
    await takeovers.idle();
    expect(reads).toBe(0);
  });
});
