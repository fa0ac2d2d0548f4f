/**
 * PgAuditStore with several gateway processes on one database: concurrent migrations, appends to a
 * shared chain and to own chains, checkpoints and replays running at the same time, and a process
 * killed (SIGKILL) in the middle of appending — every acknowledged batch is there, whole.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { auditKeyIdOf } from '../../gateway/audit/audit-key.ts';
import { PgAuditStore } from '../../gateway/audit/pg-audit-store.ts';
import { verifyExport } from '../../gateway/audit/verify-export.ts';
import { collect } from './audit-tamper.conformance.ts';
import { dropSchema, freshSchemaName, PG_URL } from './pg-test-schema.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const STORE_MODULE = fileURLToPath(new URL('../../gateway/audit/pg-audit-store.ts', import.meta.url));
const KEY_MODULE = fileURLToPath(new URL('../../gateway/audit/audit-key.ts', import.meta.url));
const schemas: string[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const schema of schemas) await dropSchema(schema);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Starts a child running `body` (with `store`, `proc`, `event(i)` in scope) once the go file exists. */
function child(
  env: Record<string, string>,
  body: string,
): { process: ChildProcess; ready: Promise<void>; lines: string[]; exit: Promise<number | null> } {
  const script = `
    const { existsSync } = await import('node:fs');
    const { PgAuditStore } = await import(process.env.STORE_MODULE);
    const store = await PgAuditStore.connect({ url: process.env.PG_URL, schema: process.env.SCHEMA, maxBatchEvents: 200 });
    const proc = Number(process.env.PROC);
    const event = (detail, extra = {}) => ({ time: new Date().toISOString(), kind: 'queued', actor: 'gateway',
      messageId: 'p' + proc + '-' + detail.i, sender: 'ags:14612000', receiver: 'ags:15003000', senderSystem: 'sn-melde',
      receiverSystem: 'st-melde', messageType: 'xmeld:0201', digest: null, detail: { proc, ...detail }, ...extra });
    process.stdout.write('ready\\n');
    while (!existsSync(process.env.GO_FILE)) await new Promise((r) => setTimeout(r, 2));
    ${body}
    await store.close();
  `;
  const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    env: { ...process.env, STORE_MODULE, KEY_MODULE, PG_URL, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  const ready = new Promise<void>((resolve) => {
    createInterface({ input: p.stdout! }).on('line', (line) => {
      if (line === 'ready') resolve();
      else lines.push(line);
    });
  });
  const exit = new Promise<number | null>((resolve) => p.once('exit', resolve));
  return { process: p, ready, lines, exit };
}

function goFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gw-pg-procs-'));
  dirs.push(dir);
  return join(dir, 'go');
}

describe('PgAuditStore across processes', () => {
  it('three processes append, replay and checkpoint at once: one valid, signed log, each event once', async () => {
    const schema = freshSchemaName('procs');
    schemas.push(schema);
    const go = goFile();
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const BATCHES = 30;
    const PER_BATCH = 5;
    const body = `
      const { signerFor } = await import(process.env.KEY_MODULE);
      const { createPrivateKey } = await import('node:crypto');
      const signer = signerFor(createPrivateKey(process.env.KEY_PEM), process.env.KEY_ID);
      const work = [];
      for (let b = 0; b < ${BATCHES}; b++) {
        work.push(store.append(Array.from({ length: ${PER_BATCH} }, (_, j) => event({ i: b, j }))));
        work.push(store.append([event({ i: b, own: true })], 'proc-' + proc));
        // The same bus records replayed by every process: keys make them land once.
        work.push(store.append([event({ i: b, replay: true }, { actor: 'replay', messageId: 'r-' + b, detail: { b }, idempotencyKey: 'deliver/0/' + b })], 'replay'));
        if (b % 10 === 9) { await Promise.all(work.splice(0)); await store.createCheckpoint(signer); }
      }
      await Promise.all(work);
      await store.createCheckpoint(signer);
    `;
    const children = [0, 1, 2].map((proc) =>
      child(
        { SCHEMA: schema, PROC: String(proc), GO_FILE: go, KEY_PEM: keyPem, KEY_ID: auditKeyIdOf(publicKey) },
        body,
      ),
    );
    try {
      await Promise.all(children.map((c) => c.ready));
      writeFileSync(go, '');
      expect(await Promise.all(children.map((c) => c.exit))).toEqual([0, 0, 0]);
    } finally {
      for (const c of children) if (c.process.exitCode === null) c.process.kill('SIGKILL');
    }

    const store = await PgAuditStore.connect({ url: PG_URL, schema });
    try {
      const result = await verifyExport(await collect(store), { publicKey, keyId: auditKeyIdOf(publicKey) });
      expect(result).toMatchObject({ ok: true, unsignedEntries: 0 });
      expect(result.heads.map((h) => [h.chain, h.seq])).toEqual([
        ['main', 3 * BATCHES * PER_BATCH],
        ['proc-0', BATCHES],
        ['proc-1', BATCHES],
        ['proc-2', BATCHES],
        ['replay', BATCHES],
      ]);
      const main = await store.query({ chain: 'main' });
      expect(new Set(main.map((e) => JSON.stringify(e.detail))).size).toBe(main.length);
      // Every append is contiguous, and the processes really interleaved.
      for (let s = 0; s < main.length; s += PER_BATCH) {
        expect(new Set(main.slice(s, s + PER_BATCH).map((e) => e.messageId)).size).toBe(1);
      }
      const switches = main.filter((e, i) => i > 0 && e.detail.proc !== main[i - 1]!.detail.proc).length;
      expect(switches).toBeGreaterThan(2);
      const replays = await store.query({ chain: 'replay' });
      expect(replays.map((e) => e.detail.b as number).sort((x, y) => x - y)).toEqual(
        Array.from({ length: BATCHES }, (_, b) => b),
      );
      expect(new Set(replays.map((e) => e.messageId)).size).toBe(BATCHES);
      // The checkpoints of all three processes form one sequence.
      const checkpoints = await store.checkpoints();
      expect(checkpoints.map((c) => c.id)).toEqual(checkpoints.map((_, i) => i + 1));
      expect(checkpoints.length).toBeGreaterThanOrEqual(3);
      // Search rows saw every message exactly as often as it has events.
      const page = await store.searchMessages({ limit: 1000, messageId: 'p1-7' });
      expect(page.items[0]).toMatchObject({ events: PER_BATCH + 1 });
    } finally {
      await store.close();
    }
  });

  it('keeps every acknowledged batch, whole, when the appending process is killed', async () => {
    const schema = freshSchemaName('crash');
    schemas.push(schema);
    const go = goFile();
    const body = `
      let b = 0;
      const appendOne = async () => {
        const n = b++;
        const entries = await store.append(Array.from({ length: 20 }, (_, j) => event({ i: n, j })));
        process.stdout.write(JSON.stringify({ b: n, first: entries[0].seq, last: entries[19].seq, hash: entries[19].hash }) + '\\n');
      };
      for (;;) await Promise.all([appendOne(), appendOne(), appendOne(), appendOne()]);
    `;
    const c = child({ SCHEMA: schema, PROC: '0', GO_FILE: go }, body);
    try {
      await c.ready;
      writeFileSync(go, '');
      await expect.poll(() => c.lines.length, { timeout: 30_000, interval: 20 }).toBeGreaterThanOrEqual(40);
    } finally {
      c.process.kill('SIGKILL');
      await c.exit;
    }
    const acked = c.lines.map(
      (l) => JSON.parse(l) as { b: number; first: number; last: number; hash: string },
    );
    const store = await PgAuditStore.connect({ url: PG_URL, schema });
    try {
      const all = await store.query({ chain: 'main' });
      const result = await verifyExport(await collect(store));
      expect(result.ok).toBe(true);
      for (const ack of acked) {
        const stored = all.slice(ack.first - 1, ack.last);
        expect(stored.map((e) => e.detail.i)).toEqual(Array(20).fill(ack.b));
        expect(stored.at(-1)!.hash).toBe(ack.hash);
      }
      // Nothing half-written: every batch in the table is complete (acknowledged or not).
      const perBatch = new Map<number, number>();
      for (const e of all) perBatch.set(e.detail.i as number, (perBatch.get(e.detail.i as number) ?? 0) + 1);
      expect([...perBatch.values()].every((n) => n === 20)).toBe(true);
      expect(all.length).toBeGreaterThanOrEqual(acked.length * 20);
    } finally {
      await store.close();
    }
  });
});
