/**
 * The decisions of the per-case order (gateway/pipeline/case-order.ts) on a real SQLite mailbox:
 * what a record of the deliver topic and of the retry topic does, depending on its case's tickets —
 * including the cases the end-to-end tests cannot stage: a redelivered record that already holds a
 * ticket, a stale copy of a settled one, and a head that went missing (a wait, never a busy loop).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteMailboxStore } from '../../gateway/mailbox/sqlite-mailbox-store.ts';
import { CASE_TICKET_HEADER, CaseOrder } from '../../gateway/pipeline/case-order.ts';
import type { ConsumedRecord } from '../../gateway/ports/bus.ts';

const NOW = new Date('2026-11-29T10:00:00.000Z');
const later = (ms: number) => new Date(NOW.getTime() + ms);

function record(topic: string, offset: number, key: string, ticket?: number): ConsumedRecord {
  return {
    topic,
    partition: 0,
    offset: String(offset),
    key,
    value: Buffer.from('<doc/>'),
    headers: ticket === undefined ? {} : { [CASE_TICKET_HEADER]: String(ticket) },
    timestamp: NOW.getTime(),
  };
}

describe('case order: the step for each record', () => {
  let dir: string;
  let store: SqliteMailboxStore;
  let order: CaseOrder;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gw-case-order-'));
    store = new SqliteMailboxStore({ file: join(dir, 'mailbox.sqlite') });
    order = new CaseOrder(store, 1_000);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('attempts a record of a case with nothing waiting, parks one behind a waiting record', async () => {
    const first = record('gw.deliver.st-melde', 1, 'case-1');
    expect(await order.onDeliverTopic('st-melde', first)).toEqual({ kind: 'attempt' });
    // Its attempt failed: it takes the case's ticket.
    const head = await order.take('st-melde', first, 'm-1', later(5_000));
    const second = record('gw.deliver.st-melde', 2, 'case-1');
    expect(await order.onDeliverTopic('st-melde', second)).toEqual({ kind: 'park-behind', head });
    // Other cases and other systems are not held up.
    expect(await order.onDeliverTopic('st-melde', record('gw.deliver.st-melde', 3, 'case-2'))).toEqual({
      kind: 'attempt',
    });
    expect(await order.onDeliverTopic('th-melde', record('gw.deliver.th-melde', 2, 'case-1'))).toEqual({
      kind: 'attempt',
    });
  });

  it('parks a redelivered record again under its own ticket, and drops it once settled', async () => {
    const r = record('gw.deliver.st-melde', 7, 'case-1');
    const ticket = await order.take('st-melde', r, 'm-7', later(2_000));
    expect(await order.onDeliverTopic('st-melde', r)).toEqual({ kind: 'park-again', ticket });
    await order.settle(ticket.ticket, 'delivered');
    expect(await order.onDeliverTopic('st-melde', r)).toEqual({ kind: 'settled' });
  });

  it('on the retry topic attempts only the head; the others wait for the head, settled copies are dropped', async () => {
    const a = await order.take('st-melde', record('gw.deliver.st-melde', 1, 'case-1'), 'm-1', later(5_000));
    const b = await order.take('st-melde', record('gw.deliver.st-melde', 2, 'case-1'), 'm-2', later(5_000));
    const parkedA = record('gw.retry.st-melde', 10, 'case-1', a.ticket);
    const parkedB = record('gw.retry.st-melde', 11, 'case-1', b.ticket);
    expect(await order.onRetryTopic('st-melde', parkedA, NOW)).toEqual({ kind: 'attempt', ticket: a.ticket });
    // B waits until the head's own time, not longer.
    expect(await order.onRetryTopic('st-melde', parkedB, NOW)).toEqual({
      kind: 'wait',
      notBefore: later(5_000),
    });
    await order.reschedule(a.ticket, later(9_000));
    expect(await order.onRetryTopic('st-melde', parkedB, NOW)).toEqual({
      kind: 'wait',
      notBefore: later(9_000),
    });
    await order.settle(a.ticket, 'dead-lettered');
    // The head dead-lettered, the case goes on.
    expect(await order.onRetryTopic('st-melde', parkedB, NOW)).toEqual({ kind: 'attempt', ticket: b.ticket });
    expect(await order.onRetryTopic('st-melde', parkedA, NOW)).toEqual({ kind: 'settled' });
    // A ticket the store does not know (settled and pruned long ago) is settled too.
    expect(
      await order.onRetryTopic('st-melde', record('gw.retry.st-melde', 12, 'case-1', 987_654), NOW),
    ).toEqual({
      kind: 'settled',
    });
    // A record parked before tickets existed is attempted as then.
    expect(await order.onRetryTopic('st-melde', record('gw.retry.st-melde', 13, 'case-9'), NOW)).toEqual({
      kind: 'attempt',
      ticket: undefined,
    });
  });

  it('waits at least the minimum behind a head that is due but was not attempted (no busy loop)', async () => {
    const a = await order.take('st-melde', record('gw.deliver.st-melde', 1, 'case-1'), 'm-1', later(-60_000));
    const b = await order.take('st-melde', record('gw.deliver.st-melde', 2, 'case-1'), 'm-2', later(-60_000));
    expect(a.ticket).toBeLessThan(b.ticket);
    expect(
      await order.onRetryTopic('st-melde', record('gw.retry.st-melde', 5, 'case-1', b.ticket), NOW),
    ).toEqual({
      kind: 'wait',
      notBefore: later(1_000),
    });
  });
});
