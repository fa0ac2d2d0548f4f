/**
 * The ack audit sweep's own conduct, on a mailbox and an audit store that fail on purpose: it never
 * rejects, logs each failure with its message id and counts it, stops a tick after failures in a
 * row, and marks only what is in the trail. (The sweep against real stores: test/e2e/inbox-ack-audit-sweep.test.ts.)
 */
import { Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import { AuditLog } from '../audit/audit-log.ts';
import type { Logger } from '../log/logger.ts';
import type { AuditEventInput, AuditStore } from '../ports/audit-store.ts';
import type { AckedItemKey, InboxItem, MailboxStore } from '../ports/mailbox-store.ts';
import { AckAuditSweep } from './ack-audit-sweep.ts';
import { ACK_REPAIR_CHAIN } from './pull-ack-audit.ts';

function item(n: number): InboxItem {
  return {
    systemId: 'st-melde',
    messageId: `m-${n}`,
    messageType: 't',
    senderAuthority: 'ags:1',
    receiverAuthority: 'ags:2',
    senderSystem: 'sn-melde',
    digest: 'ab'.repeat(32),
    signedDocument: '<x/>',
    nativeContentType: 'application/xml',
    nativeBody: Buffer.from('x'),
    createdAt: '2026-01-01T00:00:00.000Z',
  };
}

function harness(options: {
  claimed?: InboxItem[];
  claim?: () => Promise<InboxItem[]>;
  /** Message ids whose `acknowledged` the trail has already. */
  present?: string[];
  /** Message ids whose append fails. */
  failing?: (messageId: string) => boolean;
  batch?: number;
}) {
  const claims: Parameters<MailboxStore['claimUnauditedAcks']>[0][] = [];
  const marked: AckedItemKey[][] = [];
  const mailbox = {
    claimUnauditedAcks: vi.fn(async (o: Parameters<MailboxStore['claimUnauditedAcks']>[0]) => {
      claims.push(o);
      return options.claim ? options.claim() : (options.claimed ?? []);
    }),
    markAcksAudited: vi.fn(async (keys: readonly AckedItemKey[]) => {
      marked.push([...keys]);
    }),
  } as unknown as MailboxStore;
  const appended: { events: AuditEventInput[]; chain: string }[] = [];
  const store = {
    hasEvent: async (messageId: string) => options.present?.includes(messageId) ?? false,
    append: vi.fn(async (events: AuditEventInput[], chain: string) => {
      if (options.failing?.(events[0]!.messageId!)) throw new Error('audit store refuses');
      appended.push({ events, chain });
      return events.map((e, i) => ({ ...e, chain, seq: i + 1, prevHash: '', hash: '' }));
    }),
  } as unknown as AuditStore;
  const logged: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  const logger = {
    error: (fields: Record<string, unknown>, message: string) =>
      logged.push({ level: 'error', fields, message }),
    warn: (fields: Record<string, unknown>, message: string) =>
      logged.push({ level: 'warn', fields, message }),
  } as unknown as Logger;
  const registry = new Registry();
  const sweep = new AckAuditSweep({
    mailbox,
    audit: new AuditLog(store),
    everyMs: 1_000,
    graceMs: 60_000,
    ...(options.batch ? { batch: options.batch } : {}),
    registry,
    logger,
    now: () => new Date('2026-03-01T12:00:00.000Z'),
  });
  const counter = async (name: string) =>
    (await registry.getSingleMetric(name)!.get()).values.reduce((n, v) => n + v.value, 0);
  return { sweep, mailbox, claims, marked, appended, store, logged, counter };
}

describe('AckAuditSweep', () => {
  it('claims the acks older than the grace, writes the missing entries keyed on the repair chain, marks them', async () => {
    const h = harness({ claimed: [item(1), item(2)], present: ['m-2'] });
    expect(await h.sweep.runOnce()).toEqual({ claimed: 2, written: 1, failed: 0 });
    expect(h.claims).toEqual([
      {
        ackedBefore: '2026-03-01T11:59:00.000Z',
        now: '2026-03-01T12:00:00.000Z',
        claimUntil: '2026-03-01T12:01:00.000Z',
        limit: 500,
      },
    ]);
    expect(h.appended).toHaveLength(1);
    expect(h.appended[0]!.chain).toBe(ACK_REPAIR_CHAIN);
    expect(h.appended[0]!.events[0]).toMatchObject({
      kind: 'acknowledged',
      messageId: 'm-1',
      actor: 'system:st-melde',
      idempotencyKey: 'pull-ack/st-melde/m-1',
      detail: { mode: 'pull', recovered: true },
    });
    expect(h.marked).toEqual([[item(1), item(2)]]);
    expect(await h.counter('gateway_inbox_ack_audit_repaired_total')).toBe(1);
    expect(await h.counter('gateway_inbox_ack_audit_sweep_errors_total')).toBe(0);
  });

  it('a failing append is logged with its message id and counted; the others of the batch go on', async () => {
    const h = harness({ claimed: [1, 2, 3].map(item), failing: (id) => id === 'm-2' });
    expect(await h.sweep.runOnce()).toEqual({ claimed: 3, written: 2, failed: 1 });
    // Unmarked, m-2 is claimed again once its claim ends.
    expect(h.marked).toEqual([[item(1), item(3)]]);
    expect(h.logged.filter((l) => l.level === 'error')).toEqual([
      expect.objectContaining({
        fields: expect.objectContaining({ messageId: 'm-2', systemId: 'st-melde' }),
      }),
    ]);
    expect(await h.counter('gateway_inbox_ack_audit_sweep_errors_total')).toBe(1);
  });

  it('stops a tick after three failures in a row (the audit store is down)', async () => {
    const h = harness({ claimed: [1, 2, 3, 4, 5, 6].map(item), failing: () => true });
    expect(await h.sweep.runOnce()).toEqual({ claimed: 6, written: 0, failed: 3 });
    expect(h.store.append).toHaveBeenCalledTimes(3);
    expect(await h.counter('gateway_inbox_ack_audit_sweep_errors_total')).toBe(3);
  });

  it('a failing claim or mark resolves the run, logged and counted', async () => {
    const h = harness({
      claim: async () => {
        throw new Error('mailbox down');
      },
    });
    expect(await h.sweep.runOnce()).toEqual({ claimed: 0, written: 0, failed: 0 });
    expect(h.logged).toEqual([expect.objectContaining({ level: 'error' })]);
    expect(await h.counter('gateway_inbox_ack_audit_sweep_errors_total')).toBe(1);

    const m = harness({ claimed: [item(7)] });
    vi.mocked(m.mailbox.markAcksAudited).mockRejectedValueOnce(new Error('mailbox down'));
    expect(await m.sweep.runOnce()).toEqual({ claimed: 1, written: 1, failed: 0 });
    expect(m.logged.at(-1)).toMatchObject({ level: 'error', fields: { messageIds: ['m-7'] } });
    expect(await m.counter('gateway_inbox_ack_audit_sweep_errors_total')).toBe(1);
  });

  it('works off a backlog in one tick: sweeps again while a run claimed a full batch, stops at a short one or a failure', async () => {
    vi.useFakeTimers();
    try {
      const backlog = [[item(1), item(2)], [item(3), item(4)], [item(5)]];
      const h = harness({ batch: 2, claim: async () => backlog.shift() ?? [] });
      h.sweep.start();
      await vi.advanceTimersByTimeAsync(1_000);
      expect(h.claims).toHaveLength(3);
      expect(h.appended).toHaveLength(5);

      const failing = [
        [item(6), item(7)],
        [item(8), item(9)],
      ];
      const f = harness({
        batch: 2,
        claim: async () => failing.shift() ?? [],
        failing: (id) => id === 'm-7',
      });
      f.sweep.start();
      await vi.advanceTimersByTimeAsync(1_000);
      // A failing audit store is not pressed further before the next tick.
      expect(f.claims).toHaveLength(1);
      await f.sweep.stop();
      await h.sweep.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('runs on its timer, one run at a time, and not after stop', async () => {
    vi.useFakeTimers();
    try {
      let release: (() => void) | undefined;
      const h = harness({
        claim: () =>
          new Promise<InboxItem[]>((resolve) => {
            release = () => resolve([]);
          }),
      });
      h.sweep.start();
      await vi.advanceTimersByTimeAsync(3_500);
      // The first run still waits for its claim: the later ticks started none.
      expect(h.claims).toHaveLength(1);
      const stopped = h.sweep.stop();
      release!();
      await stopped;
      await vi.advanceTimersByTimeAsync(5_000);
      expect(h.claims).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });
});
