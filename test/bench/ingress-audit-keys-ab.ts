/**
 * A/B of the ingress's audit append with and without idempotency keys on its entries (received,
 * accepted, [converted every 4th], signed, queued; pipeline/published-audit.ts keyIngressEntries), on
 * one tree: the keys are what the successful path gained when a failed append became retryable.
 * Alternating runs in one process (alternating-rounds.ts); "old" is without keys (or, with
 * --baseline scattered, with keys led by the request id), "new" with the keys the ingress writes.
 *
 *   node --import tsx test/bench/ingress-audit-keys-ab.ts [--rounds 5] [--messages 3000] [--rate 300]
 *        [--only sqlite|pg|js] [--baseline none|scattered]
 *
 * sqlite: AuditLog + SqliteAuditStore (sync FULL, as the gateway runs it), a message's replay check
 * and its append at --rate messages a second; CPU of the process (thread pool included) per message.
 * pg: the same into PgAuditStore (127.0.0.1, a fresh schema per run, TEST_DATABASE_URL overrides):
 * this process's CPU per message (PostgreSQL's own is not in it) and the append's median latency
 * (keyed batches used to skip the store's hashing ahead: five times the latency; pg-audit-store.ts plan()).
 * js: the per-event JS work of an append only (pendingEvents, chainEntry, entryRow), no database.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AuditLog, type AuditRecordInput } from '../../gateway/audit/audit-log.ts';
import { chainEntry, GENESIS_HASH } from '../../gateway/audit/hash-chain.ts';
import { PgAuditStore } from '../../gateway/audit/pg-audit-store.ts';
import { entryRow, pendingEvents } from '../../gateway/audit/rows.ts';
import { SqliteAuditStore } from '../../gateway/audit/sqlite-audit-store.ts';
import { keyIngressEntries } from '../../gateway/pipeline/published-audit.ts';
import type { AuditEntry, AuditEventInput, AuditStore } from '../../gateway/ports/audit-store.ts';
import { dropSchema, freshSchemaName, PG_URL } from '../conformance/pg-test-schema.ts';
import { alternatingRounds, cpuMicros, median } from './support/alternating-rounds.ts';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    messages: { type: 'string', default: '3000' },
    rate: { type: 'string', default: '300' },
    only: { type: 'string' },
    // "old": no keys (default), or `scattered`: the keys' first form, request id first.
    baseline: { type: 'string', default: 'none' },
  },
});
const ROUNDS = Number(args.rounds);
const MESSAGES = Number(args.messages);
const RATE = Number(args.rate);

interface Variant {
  keys: 'none' | 'ordered' | 'scattered';
}

/** The ingress's entries of message `n`, as sealAndPublish builds them. */
function ingressEntries(n: number, keys: Variant['keys']): AuditRecordInput[] {
  const requestId = randomUUID();
  const messageId = randomUUID();
  const common = {
    actor: 'system:sn-melde',
    messageId,
    sender: 'ags:14612000',
    receiver: 'ags:15003000',
    senderSystem: 'sn-melde',
    receiverSystem: 'st-melde',
    messageType: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
  };
  const sealedAs = { ...common, actor: 'gateway', digest: randomUUID().replaceAll('-', '').repeat(2) };
  const entries: AuditRecordInput[] = [
    { ...common, kind: 'received', detail: { requestId } },
    { ...common, kind: 'accepted', detail: { referenzUUID: null } },
    ...(n % 4 === 0
      ? [
          {
            ...sealedAs,
            kind: 'converted' as const,
            detail: { from: common.messageType, to: common.messageType },
          },
        ]
      : []),
    { ...sealedAs, kind: 'signed', detail: {} },
    { ...sealedAs, kind: 'queued', detail: {} },
  ];
  if (keys === 'ordered') keyIngressEntries(requestId, entries);
  // The first form of the keys: request id first, scattered over the key index.
  if (keys === 'scattered')
    for (let i = 0; i < entries.length; i++)
      entries[i]!.idempotencyKey = `ingress/${requestId}/${messageId}/${entries[i]!.kind}`;
  return entries;
}

/** Messages at RATE a second, each: replay check, then the append; CPU and append latency. */
async function paced(store: AuditStore, variant: Variant): Promise<Record<string, number>> {
  const audit = new AuditLog(store);
  const latencies: number[] = [];
  const message = async (n: number) => {
    const entries = ingressEntries(n, variant.keys);
    if (await store.hasEvent(entries[0]!.messageId!, 'accepted')) throw new Error('fresh id accepted');
    const t = performance.now();
    await audit.recordMany(entries);
    latencies.push(performance.now() - t);
  };
  const before = cpuMicros();
  const started: Promise<void>[] = [];
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(MESSAGES, Math.floor(((performance.now() - t0) / 1000) * RATE));
      while (started.length < due) started.push(message(started.length));
      if (started.length >= MESSAGES) {
        clearInterval(timer);
        resolve();
      }
    }, 2);
  });
  await Promise.all(started);
  return { cpuUsPerMessage: (cpuMicros() - before) / MESSAGES, appendMsP50: median(latencies) };
}

async function sqliteRun(variant: Variant): Promise<Record<string, number>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ab-ingress-keys-'));
  const store = new SqliteAuditStore({ file: path.join(dir, 'audit.db') });
  try {
    return await paced(store, variant);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function pgRun(variant: Variant): Promise<Record<string, number>> {
  const schema = freshSchemaName('ingresskeys');
  const store = await PgAuditStore.connect({ url: PG_URL, schema });
  try {
    return await paced(store, variant);
  } finally {
    await store.close();
    await dropSchema(schema);
  }
}

/** Per event what an append does in JS (as audit-append-ab.ts's js-only store), nothing else. */
async function jsRun(variant: Variant): Promise<Record<string, number>> {
  let head = { seq: 0, hash: GENESIS_HASH };
  const store = {
    kind: 'js-only',
    async append(events: AuditEventInput[], chain = 'main'): Promise<AuditEntry[]> {
      const pending = pendingEvents(events, chain);
      const entries: AuditEntry[] = [];
      for (let i = 0; i < pending.events.length; i++) {
        const entry = chainEntry(pending.events[i]!, chain, head);
        entryRow(entry, pending.detailJson[i]!, pending.keys[i]!);
        entries.push(entry);
        head = entry;
      }
      return entries;
    },
  } as unknown as AuditStore;
  const audit = new AuditLog(store);
  const n = MESSAGES * 5;
  const before = cpuMicros();
  for (let i = 0; i < n; i++) await audit.recordMany(ingressEntries(i, variant.keys));
  return { cpuUsPerMessage: (cpuMicros() - before) / n };
}

const without: Variant = { keys: args.baseline === 'scattered' ? 'scattered' : 'none' };
const withKeys: Variant = { keys: 'ordered' };
console.log(
  `old = ${without.keys === 'none' ? 'without keys' : 'keys as first written (request id first)'}, new = with keys (keyIngressEntries)\n`,
);
if (!args.only || args.only === 'js')
  await alternatingRounds(`js path (${MESSAGES * 5} messages)`, without, withKeys, jsRun, {
    rounds: ROUNDS,
    cpuDigits: 2,
  });
if (!args.only || args.only === 'sqlite')
  await alternatingRounds(`sqlite (${MESSAGES} messages at ${RATE}/s)`, without, withKeys, sqliteRun, {
    rounds: ROUNDS,
    cpuDigits: 2,
  });
if (!args.only || args.only === 'pg')
  await alternatingRounds(`pg (${MESSAGES} messages at ${RATE}/s)`, without, withKeys, pgRun, {
    rounds: ROUNDS,
    cpuDigits: 2,
  });
