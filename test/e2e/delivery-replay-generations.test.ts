/**
 * Every delivery audit entry records the replay generation of the record it was written for, and
 * the status history is ordered by it. A real HTTPS push receiver refuses a message (503, then 400:
 * dead-lettered), an operator replays it through the dead-letter API, the receiver refuses it again
 * the same way, the operator replays it once more and the receiver takes it at the second attempt.
 * Each generation's entries lie on the deliver and on the retry topic's chain; each carries its
 * generation (0, 1, 2), and the sender's status history lists them in causal order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPartitionChain } from '../../gateway/pipeline/delivery-audit.ts';
import type { AuditEntry } from '../../gateway/ports/audit-store.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import {
  eventually,
  pushContracts,
  startTestGateway,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';
import { type FlakyReceiver, ORDER_TEST_ENV, startFlakyReceiver } from './delivery-order-scenario.ts';

interface StatusView {
  status: string;
  history: { chain: string; seq: number; event: string; detail: Record<string, unknown> }[];
}

const INGRESS = new Set(['received', 'accepted', 'converted', 'signed', 'queued']);

describe('replay generations in the delivery audit entries (SQLite bus, HTTPS push)', () => {
  let t: TestGateway | undefined;
  let receiver: FlakyReceiver;
  let operatorToken: string;

  beforeAll(async () => {
    const dataDir = tempDir('replay-generations');
    receiver = await startFlakyReceiver(dataDir);
    t = await startTestGateway({
      dataDir,
      contractsDir: pushContracts({ 'st-melde': receiver.url }),
      env: ORDER_TEST_ENV,
    });
    const issued = await t.gateway.tokens.issue({
      role: 'operator',
      scope: '*',
      name: 'operator',
      lifetimeMs: 3_600_000,
      createdBy: 'test',
      permissions: [],
    });
    operatorToken = issued.token;
  });
  afterAll(async () => {
    await t?.stop();
    await receiver?.close();
  });

  const trailOf = (messageId: string) => t!.gateway.auditStore.query({ messageId, limit: 1000 });
  const deadLetters = async (messageId: string) =>
    (await trailOf(messageId)).filter((e) => e.kind === 'dead-lettered');

  async function replay(messageId: string): Promise<void> {
    const replayed = await t!
      .client(null)
      .call<{ messages: number }>(
        'POST',
        `/v1/operations/dead-letters/st-melde/${messageId}/replay`,
        undefined,
        { authorization: `Bearer ${operatorToken}` },
      );
    expect(replayed.status, JSON.stringify(replayed.body)).toBe(200);
    expect(replayed.body.messages).toBe(1);
  }

  it('records the generation in every delivery entry and orders the history by it', async () => {
    const msg = rueckmeldung();
    // Each generation: 503 at its first attempt (deliver topic), then the retry (retry topic) gets
    // 400 in generations 0 and 1 — dead-lettered — and 204 in generation 2.
    receiver.scripted.set(msg.id, [503, 400]);
    const sent = await t!.client('sn-melde').send('sn-melde', msg.body, 'application/json');
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);

    /** The message's entries on the partition chains, by the generation they were written in. */
    const byGeneration: AuditEntry[][] = [];
    const seen = new Set<string>();
    const takeNew = async (generation: number) => {
      const fresh = (await trailOf(msg.id)).filter(
        (e) => isPartitionChain(e.chain) && !seen.has(`${e.chain}#${e.seq}`),
      );
      for (const e of fresh) seen.add(`${e.chain}#${e.seq}`);
      byGeneration[generation] = fresh;
    };
    for (const generation of [0, 1]) {
      await eventually(
        async () => ((await deadLetters(msg.id)).length === generation + 1 ? true : undefined),
        20_000,
        `dead-letter ${generation}`,
      );
      // The dead-letter is the generation's last entry: everything after the replay is the next one's.
      await takeNew(generation);
      receiver.scripted.set(msg.id, generation === 0 ? [503, 400] : [503]);
      await replay(msg.id);
    }
    await eventually(
      async () => ((await trailOf(msg.id)).some((e) => e.kind === 'acknowledged') ? true : undefined),
      20_000,
      'delivered after the second replay',
    );
    await takeNew(2);
    expect(receiver.accepted.filter((r) => r.messageId === msg.id)).toHaveLength(1);

    for (const [generation, entries] of byGeneration.entries()) {
      const kinds = entries.map((e) => e.kind).sort();
      expect(kinds).toEqual(
        generation < 2
          ? ['dead-lettered', 'delivery-attempted', 'delivery-attempted']
          : ['acknowledged', 'delivered', 'delivery-attempted', 'delivery-attempted'],
      );
      // On both chains of the partition: the first attempt on the deliver topic's, the retry on the retry topic's.
      expect(new Set(entries.map((e) => e.chain)).size).toBe(2);
      for (const e of entries)
        expect(e.detail, `${e.kind} of generation ${generation}`).toMatchObject({
          replayGeneration: generation,
        });
    }
    const replays = (await trailOf(msg.id)).filter((e) => e.kind === 'replayed');
    expect(replays.map((e) => e.detail.replayGeneration).sort()).toEqual([1, 2]);

    const status = await t!.client('sn-melde').call<StatusView>('GET', `/v1/messages/${msg.id}`);
    expect(status.status).toBe(200);
    expect(status.body.status).toBe('acknowledged');
    const history = status.body.history;
    const lastIngress = history.findLastIndex((h) => INGRESS.has(h.event));
    expect(history.slice(0, lastIngress + 1).every((h) => INGRESS.has(h.event))).toBe(true);
    const label = (h: StatusView['history'][number]) =>
      [
        h.event,
        `#${h.detail.replayGeneration}`,
        h.detail.attempt === undefined ? '' : `/${h.detail.attempt}`,
      ].join('');
    expect(history.slice(lastIngress + 1).map(label)).toEqual([
      'delivery-attempted#0/1',
      'delivery-attempted#0/2',
      'dead-lettered#0',
      'replayed#1',
      'delivery-attempted#1/1',
      'delivery-attempted#1/2',
      'dead-lettered#1',
      'replayed#2',
      'delivery-attempted#2/1',
      'delivery-attempted#2/2',
      'delivered#2/2',
      'acknowledged#2',
    ]);
  });
});
