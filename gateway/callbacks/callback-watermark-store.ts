/**
 * Where the callback watermarks live: per audit chain, "the callbacks of this chain's entries are
 * on the bus up to seq N" (callback-watermarks.ts keeps them, catch-up.ts replays what lies after
 * them). Beside the other per-deployment stores, not inside the audit store: the audit database
 * holds the evidence and its own module's schema, and a watermark is operational state that a
 * follow-up keeps for itself, like the answer cases. One SQLite file in the data directory
 * (callbacks.sqlite, shared by the processes on it) or, with DATABASE_URL, one table of the shared
 * PostgreSQL (deploy/sql/009_callback_watermark.sql), so that a gateway taking over another's
 * chains (partitions move between replicas) finds their watermarks.
 *
 * A watermark only moves forward: every write keeps the larger of the stored and the new seq, so
 * processes sharing the storage can write in any order. Losing a write (a crash, an unsynced
 * commit) only leaves an older watermark, which means callbacks sent again, never callbacks lost.
 */
import path from 'node:path';
import type { ResolvedConfig } from '../config/load.ts';
import { PgCallbackWatermarkStore } from './pg-callback-watermark-store.ts';
import { SqliteCallbackWatermarkStore } from './sqlite-callback-watermark-store.ts';

export interface CallbackWatermarkStore {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * The watermark of every chain that has one; undefined if watermarks were never kept here (a
   * fresh deployment, or one from before watermarks): then nothing is owed from the past.
   */
  read(): Promise<Map<string, number> | undefined>;
  /**
   * The watermark of one chain (0 if it has none); undefined if watermarks were never kept here, as
   * for read(). The replay of one chain's gap needs only its mark (chain-takeovers.ts): two rows read
   * by key, however many chains the storage holds.
   */
  readMark(chain: string): Promise<number | undefined>;
  /** Raises the chains' watermarks to these seqs (a lower one is ignored) and marks the storage as kept. */
  advance(marks: ReadonlyMap<string, number>): Promise<void>;
  close(): Promise<void>;
}

/**
 * The row that says "watermarks are kept here": its chain name is one no audit chain has (chains
 * are at least one character long), so that a deployment that had no chain at its first start is
 * not taken for a fresh one at its second.
 */
export const KEPT_MARKER = '';

export async function connectCallbackWatermarkStore(
  config: Pick<ResolvedConfig, 'dataDir' | 'databaseUrl' | 'databaseSchema'>,
): Promise<CallbackWatermarkStore> {
  if (config.databaseUrl)
    return PgCallbackWatermarkStore.connect({ url: config.databaseUrl, schema: config.databaseSchema });
  return new SqliteCallbackWatermarkStore(path.join(config.dataDir, 'callbacks.sqlite'));
}

/** The marks in a fixed order: two writers upserting several rows lock them in the same order. */
export function sortedMarks(marks: ReadonlyMap<string, number>): [string, number][] {
  return [...marks].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** readMark's answer from the rows of KEPT_MARKER and `chain`, however many of the two exist. */
export function markOf(rows: readonly { chain: string; seq: number }[], chain: string): number | undefined {
  if (!rows.some((r) => r.chain === KEPT_MARKER)) return undefined;
  return rows.find((r) => r.chain === chain)?.seq ?? 0;
}
