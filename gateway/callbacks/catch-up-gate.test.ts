import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { AuditEntry } from '../ports/audit-store.ts';
import { CatchUpGate } from './catch-up-gate.ts';

const entry = (chain: string, seq: number) =>
  ({
    chain,
    seq,
    kind: 'delivered',
    actor: 'gateway',
    messageId: `${chain}-${seq}`,
  }) as unknown as AuditEntry;

function gate(limit?: number, lateListenerMs?: number) {
  const passed: string[] = [];
  const warnings: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      warnings.push(JSON.parse(chunk.toString()));
      callback();
    },
  });
  const g = new CatchUpGate({
    pass: (e) => passed.push(`${e.chain}:${e.seq}`),
    logger: pino({ level: 'warn' }, stream),
    ...(limit !== undefined ? { limit } : {}),
    ...(lateListenerMs !== undefined ? { lateListenerMs } : {}),
  });
  return { g, passed, warnings };
}

describe('the listener’s callbacks held until the catch-up covered their chain', () => {
  it('holds a chain’s entries until it is covered, then passes those the catch-up did not hand over, in order', () => {
    const { g, passed } = gate();
    for (const seq of [7, 11, 12]) g.admit(entry('a', seq));
    g.admit(entry('b', 3));
    expect(passed).toEqual([]);
    expect(g.holding).toBe(4);
    // The catch-up handed over a's 8..11 itself: 11 is done with; 7 (at or below the stored mark) and 12 go on.
    g.caughtUp('a', 8, 11);
    expect(passed).toEqual(['a:7', 'a:12']);
    expect(g.isCovered('a')).toBe(true);
    expect(g.isCovered('b')).toBe(false);
    // Covered: a's entries pass at once, b's are still held.
    g.admit(entry('a', 13));
    g.admit(entry('b', 4));
    expect(passed).toEqual(['a:7', 'a:12', 'a:13']);
    expect(g.holding).toBe(2);
  });

  it('drops an entry of the covered range whose listener ran only after the catch-up read it', () => {
    const { g, passed } = gate();
    g.caughtUp('a', 1, 20);
    g.openAll();
    g.admit(entry('a', 20));
    g.admit(entry('a', 21));
    expect(passed).toEqual(['a:21']);
  });

  it('stops looking for late listeners a while after the catch-up: then every entry passes', async () => {
    const { g, passed } = gate(undefined, 20);
    g.caughtUp('a', 1, 20);
    g.openAll();
    g.admit(entry('a', 19));
    await new Promise((r) => setTimeout(r, 50));
    // A re-append of an entry the catch-up handed over: at least once, as before the gate.
    g.admit(entry('a', 19));
    expect(passed).toEqual(['a:19']);
  });

  it('passes what it holds of chains the catch-up did not know once it is done, and every chain from then on', () => {
    const { g, passed } = gate();
    g.admit(entry('new', 1));
    g.admit(entry('a', 5));
    g.caughtUp('a', 6, 5);
    expect(passed).toEqual(['a:5']);
    g.openAll();
    g.admit(entry('newer', 1));
    expect(passed).toEqual(['a:5', 'new:1', 'newer:1']);
    expect(g.holding).toBe(0);
  });

  it('keeps what it holds across a failed attempt: a later attempt releases it', () => {
    const { g, passed } = gate();
    g.admit(entry('a', 2));
    g.admit(entry('b', 9));
    // Attempt 1 covers a, then fails: b stays held.
    g.caughtUp('a', 1, 1);
    g.admit(entry('b', 10));
    expect(passed).toEqual(['a:2']);
    // Attempt 2 (a is not handed over again) covers b up to 9.
    g.caughtUp('b', 4, 9);
    g.openAll();
    expect(passed).toEqual(['a:2', 'b:10']);
  });

  it('does not hold without end: past its limit everything goes on, with a warning', () => {
    const { g, passed, warnings } = gate(3);
    for (let seq = 1; seq <= 4; seq++) g.admit(entry('a', seq));
    expect(passed).toEqual(['a:1', 'a:2', 'a:3', 'a:4']);
    expect(warnings.map((w) => w.held)).toEqual([4]);
    g.admit(entry('a', 5));
    expect(passed).toHaveLength(5);
  });
});
