/**
 * How many callbacks two live writers taking turns on one chain send again, each running the full
 * stack (audit log, callback watermarks, chain takeovers) over one SQLite audit store and watermark
 * store, their callbacks published at once. Timings scaled down (mark written 25 ms after a
 * publish, replays 50 ms after a gap); the turns come every ~1 ms. On a partition chain (default)
 * this is the worst case of a rebalance's brief overlap, stretched over the whole run: most are sent
 * again (chain-takeovers.ts says why). On the main chain (`--chain main`), decided at its first
 * touch, none are.
 *
 *   node --import tsx test/bench/chain-takeovers-turns.ts [--chain main] [--ms 1000] [--baseline DIR]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { AuditLog } from '../../gateway/audit/audit-log.ts';
import { SqliteAuditStore } from '../../gateway/audit/sqlite-audit-store.ts';
import { CallbackWatermarks } from '../../gateway/callbacks/callback-watermarks.ts';
import type * as ChainTakeoversModule from '../../gateway/callbacks/chain-takeovers.ts';
import { SqliteCallbackWatermarkStore } from '../../gateway/callbacks/sqlite-callback-watermark-store.ts';
import { createLogger } from '../../gateway/log/logger.ts';

const { values: args } = parseArgs({
  options: {
    chain: { type: 'string', default: 'delivery.st-melde.0' },
    ms: { type: 'string', default: '1000' },
    baseline: { type: 'string' },
  },
});
const root = path.resolve(args.baseline ?? path.join(import.meta.dirname, '../..'));
const { ChainTakeovers } = (await import(
  pathToFileURL(path.join(root, 'gateway/callbacks/chain-takeovers.ts')).href
)) as typeof ChainTakeoversModule;

const logger = createLogger({ level: 'silent' });
const dir = mkdtempSync(path.join(tmpdir(), 'gw-chain-turns-'));
const audit = new SqliteAuditStore({
  file: path.join(dir, 'audit.sqlite'),
  sync: 'NORMAL',
  projectionDelayMs: 1e9,
});

async function writer(name: string) {
  const marks = new SqliteCallbackWatermarkStore(path.join(dir, 'callbacks.sqlite'));
  await marks.advance(new Map());
  const watermarks = new CallbackWatermarks({ store: marks, logger, intervalMs: 5, settleMs: 20 });
  let sentAgain = 0;
  const takeovers = new ChainTakeovers({
    store: audit,
    watermarks,
    logger,
    handOver: (entry) => {
      sentAgain++;
      watermarks.publishing(entry.chain, entry.seq, Promise.resolve(true));
    },
  });
  watermarks.release();
  const log = new AuditLog(audit, { chain: args.chain });
  return {
    name,
    sentAgain: () => sentAgain,
    async append(i: number) {
      const entry = await log.record({
        kind: 'delivered',
        actor: 'gateway',
        messageId: `${name}-${i}`,
        senderSystem: 'sn-melde',
        receiverSystem: 'st-melde',
      });
      takeovers.appended(entry);
      watermarks.publishing(entry.chain, entry.seq, Promise.resolve(true));
    },
    async stop() {
      await takeovers.idle();
      await watermarks.stop();
    },
  };
}

const writers = [await writer('a'), await writer('b')];
const until = Date.now() + Number(args.ms);
let turns = 0;
for (; Date.now() < until; turns++) {
  for (const w of writers) await w.append(turns);
  await new Promise((r) => setTimeout(r, 1));
}
await new Promise((r) => setTimeout(r, 300));
for (const w of writers) await w.stop();
for (const w of writers)
  console.log(`${args.chain}: ${w.name} appended ${turns}, sent ${w.sentAgain()} of the other's again`);
await audit.close();
rmSync(dir, { recursive: true, force: true });
