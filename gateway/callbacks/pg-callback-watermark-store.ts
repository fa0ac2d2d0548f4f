/**
 * The callback watermarks in PostgreSQL (deploy/sql/009_callback_watermark.sql), shared by every
 * replica: a replica that takes over a chain (its partition moved) finds its watermark. One upsert
 * statement per write, keeping the larger seq, rows in chain order so that two replicas raising
 * the same chains lock them in the same order.
 */
import type pg from 'pg';
import { openStorePool } from '../db/migrate.ts';
import { intArrayLiteral, textArrayLiteral } from '../db/postgres.ts';
import { type CallbackWatermarkStore, KEPT_MARKER, markOf, sortedMarks } from './callback-watermark-store.ts';

export interface PgCallbackWatermarkStoreOptions {
  url: string;
  schema?: string | undefined;
  /** Apply pending migrations on connect (default true). */
  migrate?: boolean;
}

export class PgCallbackWatermarkStore implements CallbackWatermarkStore {
  readonly kind = 'postgres';

  private constructor(private readonly pool: pg.Pool) {}

  static async connect(options: PgCallbackWatermarkStoreOptions): Promise<PgCallbackWatermarkStore> {
    // One connection: one read at the start, one mark read per replayed gap, at most one write every ~100 ms.
    const pool = await openStorePool({
      url: options.url,
      schema: options.schema,
      max: 1,
      applicationName: 'laender-gateway callbacks',
      migrate: options.migrate,
      table: 'callback_watermark',
    });
    return new PgCallbackWatermarkStore(pool);
  }

  async read(): Promise<Map<string, number> | undefined> {
    const { rows } = await this.pool.query<{ chain: string; seq: number }>(
      'SELECT chain, seq FROM callback_watermark',
    );
    if (!rows.some((r) => r.chain === KEPT_MARKER)) return undefined;
    return new Map(rows.filter((r) => r.chain !== KEPT_MARKER).map((r) => [r.chain, r.seq]));
  }

  async readMark(chain: string): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ chain: string; seq: number }>({
      name: 'callback-watermark-read-mark',
      text: 'SELECT chain, seq FROM callback_watermark WHERE chain IN ($1, $2)',
      values: [KEPT_MARKER, chain],
    });
    return markOf(rows, chain);
  }

  async advance(marks: ReadonlyMap<string, number>): Promise<void> {
    const rows = sortedMarks(new Map([[KEPT_MARKER, 0], ...marks]));
    await this.pool.query({
      name: 'callback-watermark-advance',
      text: `INSERT INTO callback_watermark (chain, seq)
             SELECT * FROM unnest($1::text[], $2::int8[]) ORDER BY 1
             ON CONFLICT (chain) DO UPDATE SET seq = GREATEST(callback_watermark.seq, excluded.seq)`,
      values: [textArrayLiteral(rows.map(([chain]) => chain)), intArrayLiteral(rows.map(([, seq]) => seq))],
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
