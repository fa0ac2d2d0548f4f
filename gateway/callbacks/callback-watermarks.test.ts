/**
 * The callback watermarks of one process, on a real SQLite store: nothing is written before the
 * catch-up releases them, a mark never passes a callback still being published or one that could
 * not be put on the bus, a mark is written only once it has been clear for settleMs, and a clean
 * stop writes the exact marks, and no mark of a chain held by a takeover's replay is written. A
 * fresh storage owes nothing: its marks start at the heads.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log/logger.ts';
import { CallbackWatermarks } from './callback-watermarks.ts';
import { SqliteCallbackWatermarkStore } from './sqlite-callback-watermark-store.ts';

const logger = createLogger({ level: 'silent' });
const head = (chain: string, seq: number) => ({ chain, seq, hash: '0'.repeat(64) });
const tick = (ms = 40) => new Promise((r) => setTimeout(r, ms));

function deferred(): { promise: Promise<boolean>; resolve: (onTheBus: boolean) => void } {
  let resolve!: (onTheBus: boolean) => void;
  const promise = new Promise<boolean>((r) => (resolve = r));
  return { promise, resolve };
}

describe('callback watermarks', () => {
  let dir: string;
  let file: string;
  const open: CallbackWatermarks[] = [];
  const stored = async () => {
    const store = new SqliteCallbackWatermarkStore(file);
    try {
      return await store.read();
    } finally {
      await store.close();
    }
  };
  const watermarks = (options: { settleMs?: number; now?: () => number } = {}) => {
    const w = new CallbackWatermarks({
      store: new SqliteCallbackWatermarkStore(file),
      logger,
      intervalMs: 5,
      settleMs: options.settleMs ?? 0,
      ...(options.now ? { now: options.now } : {}),
    });
    open.push(w);
    return w;
  };

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'gw-callback-watermarks-'));
    file = path.join(dir, 'callbacks.sqlite');
  });
  afterEach(async () => {
    for (const w of open.splice(0)) await w.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('owes nothing on a fresh storage: the heads become the marks; later starts owe what lies after them', async () => {
    const first = watermarks();
    expect(await first.startingPoints([head('main', 40), head('delivery.st-melde.0', 7)])).toEqual(
      new Map([
        ['main', 40],
        ['delivery.st-melde.0', 7],
      ]),
    );
    await first.stop();
    open.splice(0);
    expect(await stored()).toEqual(
      new Map([
        ['main', 40],
        ['delivery.st-melde.0', 7],
      ]),
    );

    const second = watermarks();
    // A chain begun since (no mark of its own) is owed from its start.
    expect(await second.startingPoints([head('main', 45), head('gw-b', 3)])).toEqual(
      new Map([
        ['main', 40],
        ['gw-b', 0],
      ]),
    );
  });

  it('writes nothing before release, then never past a callback still being published', async () => {
    const w = watermarks();
    await w.startingPoints([]);
    const publish12 = deferred();
    const publish14 = deferred();
    w.passed('main', 11);
    w.publishing('main', 12, publish12.promise);
    w.passed('main', 13);
    w.publishing('main', 14, publish14.promise);
    w.passed('main', 15);
    await tick();
    expect(await stored()).toEqual(new Map());

    w.release();
    await tick();
    expect(await stored()).toEqual(new Map([['main', 11]]));
    // Resolved out of order: 14 first, the mark still waits for 12.
    publish14.resolve(true);
    await tick();
    expect(await stored()).toEqual(new Map([['main', 11]]));
    publish12.resolve(true);
    await tick();
    expect(await stored()).toEqual(new Map([['main', 15]]));
  });

  it('stays below a callback that could not be put on the bus, also at a clean stop', async () => {
    const w = watermarks();
    await w.startingPoints([head('main', 20)]);
    w.release();
    w.publishing('main', 21, Promise.resolve(false));
    w.publishing('main', 22, Promise.resolve(true));
    w.passed('main', 30);
    await tick();
    await w.stop();
    open.splice(0);
    expect(await stored()).toEqual(new Map([['main', 20]]));
  });

  it('holds a chain below a gap whose replay is under way, and moves on once it is handed over', async () => {
    const w = watermarks();
    await w.startingPoints([head('taken', 4), head('other', 2)]);
    w.release();
    // A takeover's replay of the gap from 5 on (chain-takeovers.ts) holds the mark like a publish.
    let handedOver!: (done: boolean) => void;
    w.publishing('taken', 5, new Promise<boolean>((resolve) => (handedOver = resolve)));
    w.passed('taken', 9);
    w.passed('other', 6);
    await tick();
    expect(await stored()).toEqual(
      new Map([
        ['taken', 4],
        ['other', 6],
      ]),
    );
    handedOver(true);
    await tick();
    expect((await stored())?.get('taken')).toBe(9);
    expect(await w.storedMark('taken')).toBe(9);
    expect(await w.storedMark('unknown')).toBe(0);
    await w.stop();
    open.splice(0);
  });

  it('writes a mark only once it has been clear for settleMs', async () => {
    let now = 1_000;
    const w = watermarks({ settleMs: 1_000, now: () => now });
    await w.startingPoints([]);
    w.release();
    w.passed('main', 5);
    await tick();
    now += 500;
    w.passed('main', 9);
    await tick();
    expect(await stored()).toEqual(new Map());
    now += 600; // seq 5 has been clear for 1.1 s, seq 9 for 0.6 s
    await tick();
    expect(await stored()).toEqual(new Map([['main', 5]]));
    now += 500;
    await tick();
    expect(await stored()).toEqual(new Map([['main', 9]]));
  });

  it('writes the exact marks at a clean stop, once the publishes handed over have resolved', async () => {
    const w = watermarks({ settleMs: 60_000 });
    await w.startingPoints([]);
    w.release();
    const publish = deferred();
    w.publishing('main', 3, publish.promise);
    w.passed('main', 4);
    const stopping = w.stop();
    open.splice(0);
    publish.resolve(true);
    await stopping;
    expect(await stored()).toEqual(new Map([['main', 4]]));
  });
});
