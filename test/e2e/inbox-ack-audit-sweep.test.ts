/**
 * A pull acknowledgement the mailbox committed but the audit log refused, and a receiver that never
 * sends it again: the ack audit sweep (gateway/mailbox/ack-audit-sweep.ts) writes the missing
 * `acknowledged` once the grace has passed — once, on the repair chain, under the resend's key — and
 * the sender gets its receipt. Where a resend and the sweep (and two replicas) both get to it, there
 * is still one entry and one receipt.
 *
 * The audit log refuses the one entry with a trigger (SQLite's RAISE, PostgreSQL's RAISE EXCEPTION)
 * rather than a held write lock, so no busy timeout is waited out. Sweep interval and grace are short.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACK_REPAIR_CHAIN } from '../../gateway/mailbox/pull-ack-audit.ts';
import { receiptIdFor } from '../../gateway/receipts/receipt-id.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually, startTestGateway, type TestGateway } from '../support/gateway.ts';
import {
  expectRepairedAcknowledged,
  refuseAcknowledgedInPg,
  refuseAcknowledgedInSqlite,
} from '../support/refuse-acknowledged.ts';
import { sharedPgGateways } from '../support/shared-pg-gateways.ts';

const GRACE_MS = 1_000;
const SWEEP = { GATEWAY_INBOX_ACK_AUDIT_SWEEP_MS: '100', GATEWAY_INBOX_ACK_AUDIT_GRACE_MS: String(GRACE_MS) };
/** No sweep but the test's own (runOnce): the races below are set up, not left to the timer. */
const MANUAL_SWEEP = { ...SWEEP, GATEWAY_INBOX_ACK_AUDIT_SWEEP_MS: '3600000' };
/** Two gateways on PostgreSQL: a grace that a slow failed ack (trigger, lease, look) cannot use up. */
const PG_GRACE_MS = 3_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The steps of one scenario on the gateway `t` (any replica: they share the trail and the mailbox). */
function steps(t: () => TestGateway) {
  const kinds = async (messageId: string, kind: string) =>
    (await t().gateway.auditStore.query({ messageId })).filter((e) => e.kind === kind);
  const ackPath = (messageId: string) => `/v1/systems/st-melde/inbox/${messageId}/ack`;
  return {
    kinds,
    ackPath,
    /** A 0201 from sn-melde, delivered into the st-melde inbox (audited as delivered). */
    async delivered(): Promise<string> {
      const msg = rueckmeldung();
      expect((await t().client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
      await eventually(
        async () => ((await kinds(msg.id, 'delivered')).length > 0 ? true : undefined),
        15_000,
        'the 0201 delivered into the st-melde inbox',
      );
      return msg.id;
    },
    /** Acks with the audit log refusing the `acknowledged` (via `refuse`): committed, answered 5xx, unaudited. */
    async failedAck(messageId: string, refuse: (id: string) => Promise<() => Promise<void>>) {
      const allow = await refuse(messageId);
      let first: { status: number };
      try {
        first = await t().client('st-melde').call('POST', ackPath(messageId));
      } finally {
        await allow();
      }
      expect(first.status).toBeGreaterThanOrEqual(500);
      expect((await t().gateway.mailbox.lease('st-melde', messageId, new Date().toISOString()))?.leased).toBe(
        false,
      );
      expect(await kinds(messageId, 'acknowledged')).toEqual([]);
    },
    /** One `acknowledged`, the repair's; the receipt delivered to sn-melde once. */
    async audited(messageId: string) {
      const acknowledged = await eventually(
        async () => {
          const found = await kinds(messageId, 'acknowledged');
          return found.length > 0 ? found : undefined;
        },
        15_000,
        `the acknowledged of ${messageId}`,
      );
      expectRepairedAcknowledged(acknowledged);
      const receiptId = receiptIdFor(messageId);
      await eventually(
        async () => ((await kinds(receiptId, 'delivered')).length > 0 ? true : undefined),
        15_000,
        'the receipt delivered to sn-melde',
      );
      return receiptId;
    },
    /** Nothing more comes of later sweeps: still one entry, one receipt accepted and delivered, in the inbox once. */
    async once(messageId: string, receiptId: string, gateways: TestGateway[]) {
      await sleep(3 * 100 + 200);
      for (const g of gateways) {
        await g.gateway.ackAuditSweep.runOnce();
        await g.gateway.followUps.receipts.idle();
      }
      expect(await kinds(messageId, 'acknowledged')).toHaveLength(1);
      expect(await kinds(receiptId, 'accepted')).toHaveLength(1);
      expect(await kinds(receiptId, 'delivered')).toHaveLength(1);
      const inbox = await t()
        .client('sn-melde')
        .call<{ items: { messageId: string }[] }>('GET', '/v1/systems/sn-melde/inbox?limit=500');
      expect(inbox.body.items.filter((i) => i.messageId === receiptId)).toHaveLength(1);
    },
  };
}

describe('the ack audit sweep writes the `acknowledged` of an ack never resent (embedded: SQLite)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({
      env: { DATABASE_URL: '', GATEWAY_AUDIT_CHECKPOINT_SECONDS: '3600', ...SWEEP },
    });
  }, 60_000);
  afterAll(async () => t?.stop());
  const s = steps(() => t);

  const refuse = (messageId: string) => refuseAcknowledgedInSqlite(t.dataDir, messageId);

  it('the receiver never resends: the sweep writes one `acknowledged`, the sender gets its receipt', async () => {
    expect(t.gateway.mailbox.kind).toBe('sqlite');
    // An ack audited at once is marked so: the sweep never writes a second entry for it.
    const fine = await s.delivered();
    expect((await t.client('st-melde').call('POST', s.ackPath(fine))).status).toBe(200);

    const messageId = await s.delivered();
    await s.failedAck(messageId, refuse);
    const receiptId = await s.audited(messageId);
    await s.once(messageId, receiptId, [t]);

    const fineAcks = await s.kinds(fine, 'acknowledged');
    expect(fineAcks).toHaveLength(1);
    expect(fineAcks[0]!.chain).not.toBe(ACK_REPAIR_CHAIN);
    expect(await t.gateway.mailbox.claimUnauditedAcks(claimEverything())).toEqual([]);
  }, 60_000);

  it('a resend wrote it and its mark was lost: the sweep finds the entry and writes none', async () => {
    const messageId = await s.delivered();
    await s.failedAck(messageId, refuse);
    // At once, before the grace: the resend writes the entry.
    const resend = await t.client('st-melde').call('POST', s.ackPath(messageId));
    expect(resend.body).toEqual({ messageId, status: 'acknowledged', repeated: true });
    const receiptId = await s.audited(messageId);
    // The resend's mark is lost (as if the process died before it was written): the ack is back
    // among the unaudited ones of the SQLite mailbox, and the sweep looks at it again.
    const mailbox = new Database(path.join(t.dataDir, 'mailbox.sqlite'), { fileMustExist: true });
    try {
      mailbox.pragma('busy_timeout = 5000');
      const seq = (
        mailbox.prepare('SELECT seq FROM inbox WHERE message_id = ?').get(messageId) as { seq: number }
      ).seq;
      await eventually(
        async () =>
          mailbox.prepare('SELECT 1 FROM inbox_ack_unaudited WHERE seq = ?').get(seq) === undefined
            ? true
            : undefined,
        5_000,
        'the resend marking the ack audited',
      );
      mailbox
        .prepare('INSERT INTO inbox_ack_unaudited (seq, acked_at) VALUES (?, ?)')
        .run(seq, new Date(Date.now() - GRACE_MS).toISOString());
    } finally {
      mailbox.close();
    }
    await sleep(GRACE_MS);
    await s.once(messageId, receiptId, [t]);
    expect(await t.gateway.mailbox.claimUnauditedAcks(claimEverything())).toEqual([]);
  }, 60_000);
});

describe('a resend and the ack audit sweep at the same time (embedded: SQLite)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({
      env: { DATABASE_URL: '', GATEWAY_AUDIT_CHECKPOINT_SECONDS: '3600', ...MANUAL_SWEEP },
    });
  }, 60_000);
  afterAll(async () => t?.stop());
  const s = steps(() => t);

  it('one entry, one receipt', async () => {
    const messageId = await s.delivered();
    await s.failedAck(messageId, (id) => refuseAcknowledgedInSqlite(t.dataDir, id));
    await sleep(GRACE_MS);
    const [resend, run] = await Promise.all([
      t.client('st-melde').call('POST', s.ackPath(messageId)),
      t.gateway.ackAuditSweep.runOnce(),
    ]);
    expect(resend.status).toBe(200);
    expect(run).toMatchObject({ claimed: 1, failed: 0 });
    const receiptId = await s.audited(messageId);
    await s.once(messageId, receiptId, [t]);
  }, 60_000);
});

describe('the ack audit sweep with two gateways sharing PostgreSQL (swept by the test)', () => {
  const shared = sharedPgGateways('ack_sweep', {
    ...MANUAL_SWEEP,
    GATEWAY_INBOX_ACK_AUDIT_GRACE_MS: String(PG_GRACE_MS),
  });
  const s = steps(() => shared.a);

  const refuse = (messageId: string) => refuseAcknowledgedInPg(shared.schema, messageId);

  it('never resent: both replicas sweep at once, one claims it and writes one `acknowledged`, one receipt', async () => {
    const { a, b } = shared;
    expect(a.gateway.mailbox.kind).toBe('postgres');
    const messageId = await s.delivered();
    await s.failedAck(messageId, refuse);
    // Not before the grace: an ack's append may still be under way.
    const early = await Promise.all([a.gateway.ackAuditSweep.runOnce(), b.gateway.ackAuditSweep.runOnce()]);
    expect(early.map((r) => r.claimed)).toEqual([0, 0]);
    await sleep(PG_GRACE_MS);
    const runs = await Promise.all([a.gateway.ackAuditSweep.runOnce(), b.gateway.ackAuditSweep.runOnce()]);
    expect(runs.map((r) => r.claimed).sort()).toEqual([0, 1]);
    expect(runs.reduce((n, r) => n + r.written, 0)).toBe(1);
    const receiptId = await s.audited(messageId);
    await s.once(messageId, receiptId, [a, b]);
  }, 90_000);

  it('resends to both replicas and both sweeps at the same time: one entry', async () => {
    const { a, b } = shared;
    const messageId = await s.delivered();
    await s.failedAck(messageId, refuse);
    await sleep(PG_GRACE_MS);
    const [ra, rb] = await Promise.all([
      a.client('st-melde').call('POST', s.ackPath(messageId)),
      b.client('st-melde').call('POST', s.ackPath(messageId)),
      a.gateway.ackAuditSweep.runOnce(),
      b.gateway.ackAuditSweep.runOnce(),
    ]);
    expect([ra.status, rb.status]).toEqual([200, 200]);
    const receiptId = await s.audited(messageId);
    await s.once(messageId, receiptId, [a, b]);
  }, 90_000);
});

/** A claim that takes every acked item not marked audited, acked up to a minute from now. */
function claimEverything() {
  const inAMinute = new Date(Date.now() + 60_000).toISOString();
  return { ackedBefore: inAMinute, now: inAMinute, claimUntil: inAMinute, limit: 1000 };
}
