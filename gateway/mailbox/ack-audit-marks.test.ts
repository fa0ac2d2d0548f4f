/** AckAuditMarks: marks of pull acks written in batches; a failed batch is logged, never thrown. */
import { describe, expect, it, vi } from 'vitest';
import type { Logger } from '../log/logger.ts';
import type { AckedItemKey, MailboxStore } from '../ports/mailbox-store.ts';
import { AckAuditMarks } from './ack-audit-marks.ts';

function harness(fail = false) {
  const batches: AckedItemKey[][] = [];
  const mailbox = {
    markAcksAudited: async (keys: readonly AckedItemKey[]) => {
      batches.push([...keys]);
      if (fail) throw new Error('mailbox down');
    },
  } as unknown as MailboxStore;
  const warned: Record<string, unknown>[] = [];
  const logger = { warn: (fields: Record<string, unknown>) => warned.push(fields) } as unknown as Logger;
  return { marks: new AckAuditMarks({ mailbox, logger, delayMs: 50 }), batches, warned };
}
const key = (n: number) => ({ systemId: 'st-melde', messageId: `m-${n}` });

describe('AckAuditMarks', () => {
  it('writes the marks of one delay in one batch', async () => {
    vi.useFakeTimers();
    try {
      const h = harness();
      for (let n = 0; n < 10; n++) h.marks.add(key(n));
      expect(h.batches).toEqual([]);
      await vi.advanceTimersByTimeAsync(50);
      expect(h.batches).toEqual([Array.from({ length: 10 }, (_, n) => key(n))]);
      h.marks.add(key(10));
      await vi.advanceTimersByTimeAsync(50);
      expect(h.batches).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('writes a full batch at once, and what is pending on close; later marks are dropped', async () => {
    const h = harness();
    for (let n = 0; n < 501; n++) h.marks.add(key(n));
    expect(h.batches.map((b) => b.length)).toEqual([500]);
    await h.marks.close();
    expect(h.batches.map((b) => b.length)).toEqual([500, 1]);
    h.marks.add(key(1));
    await h.marks.settle();
    expect(h.batches).toHaveLength(2);
  });

  it('logs a failed batch with its message ids and goes on', async () => {
    const h = harness(true);
    h.marks.add(key(1));
    h.marks.add(key(2));
    await h.marks.settle();
    expect(h.warned).toEqual([expect.objectContaining({ messageIds: ['m-1', 'm-2'] })]);
    h.marks.add(key(3));
    await h.marks.close();
    expect(h.batches).toHaveLength(2);
  });
});
