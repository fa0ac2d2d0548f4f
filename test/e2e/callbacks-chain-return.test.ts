/**
 * A partition's delivery chain that comes back: a running gateway appends to the chain, the
 * partition moves to another process, which appends two deliveries — one whose callback it
 * published (its mark written past it) and one it crashed on before the callback reached the bus —
 * and the partition returns. The gateway's next entry follows the other process's, not its own:
 * it sends the lost callback once, not the published one, and its mark then passes both. Embedded
 * stores (SQLite), real HTTPS callback receiver; chain-takeovers.ts.
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../gateway/audit/audit-log.ts';
import type { CallbackEvent } from '../../gateway/callbacks/callback-event.ts';
import { SqliteCallbackWatermarkStore } from '../../gateway/callbacks/sqlite-callback-watermark-store.ts';
import {
  contractsWith,
  eventually,
  startTestGateway,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';
import { type PushReceiver, startCallbackReceiver } from '../support/push-receiver.ts';

const SECRET_ENV = 'GW_TEST_CALLBACK_RETURN_SECRET';
const SECRET = 'sn-melde callback return secret, 32 bytes and more';

describe('callbacks on a partition chain that comes back after another process appended to it', () => {
  let dataDir: string;
  let receiver: PushReceiver;
  const received: CallbackEvent[] = [];
  let running: TestGateway | undefined;

  beforeAll(async () => {
    dataDir = tempDir('callbacks-chain-return');
    receiver = await startCallbackReceiver(dataDir, SECRET, (event, ok) => {
      if (ok) received.push(event);
    });
    process.env[SECRET_ENV] = SECRET;
    const contractsDir = contractsWith((systems) =>
      systems.map((s) =>
        s.id === 'sn-melde' ? { ...s, callback: { url: receiver.url, secretEnv: SECRET_ENV } } : s,
      ),
    );
    running = await startTestGateway({ dataDir, contractsDir });
    await running.gateway.followUps.caughtUp;
  });
  afterAll(async () => {
    await running?.stop();
    await receiver?.close();
    rmSync(dataDir, { recursive: true, force: true });
    delete process.env[SECRET_ENV];
  });

  const marksFile = () => path.join(dataDir, 'callbacks.sqlite');
  const storedMark = async (chain: string) => {
    const store = new SqliteCallbackWatermarkStore(marksFile());
    try {
      return (await store.read())?.get(chain) ?? 0;
    } finally {
      await store.close();
    }
  };
  const markAtLeast = (chain: string, seq: number) =>
    eventually(
      async () => ((await storedMark(chain)) >= seq ? true : undefined),
      5_000,
      `the watermark of ${chain} at ${seq}`,
    );
  const copiesOf = (id: string) => received.filter((e) => e.messageId === id);

  it('sends once the callback the other process lost, not the one it published', async () => {
    const gateway = running!.gateway;
    const chain = `delivery.st-melde.return-${randomUUID().slice(0, 8)}`;
    // This gateway's own entries need no callback.
    const own = () =>
      gateway.audit.withChain(chain).record({ kind: 'received', actor: 'gateway', messageId: randomUUID() });
    const first = await own();
    await markAtLeast(chain, first.seq);

    // The other process (no listener, no publish): its mark written past the one it published.
    const delivery = (messageId: string) => ({
      kind: 'delivered' as const,
      actor: 'gateway',
      messageId,
      senderSystem: 'sn-melde',
      receiverSystem: 'st-melde',
      messageType: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
    });
    const other = new AuditLog(gateway.auditStore, { chain });
    const published = randomUUID();
    const lost = randomUUID();
    const publishedEntry = await other.record(delivery(published));
    const marks = new SqliteCallbackWatermarkStore(marksFile());
    try {
      await marks.advance(new Map([[chain, publishedEntry.seq]]));
    } finally {
      await marks.close();
    }
    const lostEntry = await other.record(delivery(lost));

    // Back with this gateway.
    const back = await own();
    expect(back.seq).toBe(lostEntry.seq + 1);

    const callback = await eventually(
      async () => copiesOf(lost)[0],
      10_000,
      'the callback the other process lost',
    );
    expect(callback).toMatchObject({ messageId: lost, receiverSystem: 'st-melde', status: 'delivered' });
    await markAtLeast(chain, back.seq);
    await new Promise((r) => setTimeout(r, 500));
    expect(copiesOf(lost)).toHaveLength(1);
    expect(copiesOf(published)).toEqual([]);
  });
});
