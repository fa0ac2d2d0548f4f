/**
 * A receipt whose issuer crashed after handing it over and before writing its trail: the restart's
 * catch-up issues it again. The sender already has the first version, so the trail and the archive
 * must name that one — a second seal has other bytes (signature, creation time) and another digest.
 * Reproduced with the real issuer and stores: the trail's append fails once at exactly that point,
 * then the gateway stops and starts again. Embedded (SQLite) and on PostgreSQL.
 * Three places the first version can be when the issuer dies: in the sender's pull inbox, already
 * pushed from the bus, or still on the bus unconsumed (the sender's delivery held back until after
 * the restart's catch-up).
 */
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { connectDocumentArchive } from '../../gateway/audit/open-store.ts';
import { RedeliverLater } from '../../gateway/bus/redeliver-later.ts';
import { HEADER } from '../../gateway/bus/topics.ts';
import { DeliveryWorker } from '../../gateway/pipeline/delivery.ts';
import type { AuditEntry } from '../../gateway/ports/audit-store.ts';
import type { ConsumedRecord } from '../../gateway/ports/bus.ts';
import { receiptIdFor } from '../../gateway/receipts/receipt-id.ts';
import { dropSchema, freshSchemaName, PG_URL } from '../conformance/pg-test-schema.ts';
import { deliveryDrained } from '../support/delivery-drained.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import {
  eventually,
  pushContracts,
  startTestGateway,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';
import { type PushedRequest, startPushReceiver } from '../support/push-receiver.ts';

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * The issuer dies right after handing the receipt over: the append of its trail (the one with its
 * `accepted`; the delivery stage never writes that kind) fails, and nothing after it runs.
 */
function crashBeforeTheTrailOf(t: TestGateway, receiptId: string) {
  // At the store: the trail goes to the chain of the acknowledgement, through a log of that chain.
  const store = t.gateway.auditStore;
  const append = store.append.bind(store);
  return vi.spyOn(store, 'append').mockImplementation(async (events, chain) => {
    if (events.some((e) => e.messageId === receiptId && e.kind === 'accepted'))
      throw new Error('crash before the trail');
    return append(events, chain);
  });
}

/**
 * The delivery stage leaves the records of `messageId` on the bus (not consumed, not committed:
 * the bus hands them again later) until `release` is called — a sender's delivery that is not
 * running. Patched on the prototype, so it holds for the gateway started after it too.
 */
function holdDeliveryOf(messageId: string) {
  type Handle = (systemId: string, record: ConsumedRecord) => Promise<void>;
  const worker = DeliveryWorker.prototype as unknown as { handle: Handle };
  const handle = worker.handle;
  let held = true;
  const spy = vi.spyOn(worker, 'handle').mockImplementation(function (this: unknown, systemId, record) {
    if (held && record.headers[HEADER.messageId] === messageId)
      return Promise.reject(new RedeliverLater(100, 'held back by the test'));
    return handle.call(this, systemId, record);
  });
  return {
    release: () => {
      held = false;
    },
    spy,
  };
}

async function archivedDigests(t: TestGateway, messageId: string): Promise<string[]> {
  const archive = await connectDocumentArchive(t.gateway.config);
  try {
    return (await archive.get(messageId)).map((d) => d.digest);
  } finally {
    await archive.close();
  }
}

/** The distinct digests a trail names. */
function digestsNamedBy(trail: AuditEntry[]): string[] {
  return [...new Set(trail.flatMap((e) => (e.digest ? [e.digest] : [])))];
}

/** After a restart: catch-up has issued the receipt again, and the issuer is idle. */
async function issuedAgain(t: TestGateway, receiptId: string): Promise<void> {
  await t.gateway.followUps.caughtUp;
  await eventually(
    async () => ((await t.gateway.auditStore.hasEvent(receiptId, 'accepted')) ? true : undefined),
    15_000,
    'the receipt issued again',
  );
  await t.gateway.followUps.receipts.idle();
}

/** The digest of the receipt as pushed to the sender, once the push is audited as delivered. */
async function pushedDigestOf(t: TestGateway, receiptId: string, pushed: PushedRequest[]): Promise<string> {
  const push = await eventually(
    async () => pushed.find((r) => r.messageId === receiptId),
    15_000,
    'the receipt pushed to sn-melde',
  );
  await eventually(
    async () => ((await t.gateway.auditStore.hasEvent(receiptId, 'delivered')) ? true : undefined),
    15_000,
    'the push audited as delivered',
  );
  return push.headers['x-gateway-digest'] as string;
}

/** Trail, archive and the sender's one push all name the pushed version; the trail is complete. */
async function expectOnlyThePushedVersion(
  t: TestGateway,
  receiptId: string,
  pushed: PushedRequest[],
  pushedDigest: string,
): Promise<void> {
  // A second version published would be dropped by the ledger; give it the time to arrive (the
  // re-issue has published whatever it did: issuedAgain waited for the issuer to be idle).
  await deliveryDrained(t.gateway, 'sn-melde');
  const trail = await t.gateway.auditStore.query({ messageId: receiptId });
  expect(digestsNamedBy(trail)).toEqual([pushedDigest]);
  expect(await archivedDigests(t, receiptId)).toEqual([pushedDigest]);
  expect(trail.map((e) => e.kind).sort()).toEqual([
    'accepted',
    'acknowledged',
    'delivered',
    'delivery-attempted',
    'queued',
    'signed',
  ]);
  expect(pushed.filter((r) => r.messageId === receiptId)).toHaveLength(1);
}

const stores = [
  { store: 'sqlite', env: (): Record<string, string> => ({}) },
  {
    store: 'postgres',
    env: (): Record<string, string> => ({
      DATABASE_URL: PG_URL,
      DATABASE_SCHEMA: freshSchemaName('receipt_crash'),
    }),
  },
];

describe.each(stores)('a receipt re-issued after a crash before its trail ($store)', ({ store, env }) => {
  const cleanUp: (() => Promise<void>)[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const step of cleanUp.splice(0).reverse()) await step();
  });

  /** A gateway on `dataDir` and `settings`, stopped after the test unless the test stopped it. */
  async function gateway(
    dataDir: string,
    settings: Record<string, string>,
    contractsDir?: string,
  ): Promise<TestGateway> {
    const started = await startTestGateway({
      dataDir,
      env: settings,
      ...(contractsDir ? { contractsDir } : {}),
    });
    let stopping: Promise<void> | undefined;
    const t = { ...started, stop: () => (stopping ??= started.stop()) };
    cleanUp.push(() => t.stop());
    return t;
  }

  function storage() {
    const dataDir = tempDir(`receipt-crash-${store}`);
    const settings = env();
    cleanUp.push(async () => {
      rmSync(dataDir, { recursive: true, force: true });
      if (settings.DATABASE_SCHEMA) await dropSchema(settings.DATABASE_SCHEMA);
    });
    return { dataDir, settings };
  }

  /** st-melde and sn-melde both take pushes; what sn-melde (the receipts' receiver) is pushed is kept. */
  async function pushReceivers(dataDir: string) {
    const pushedToSn: PushedRequest[] = [];
    const stReceiver = await startPushReceiver(dataDir, () => 200);
    const snReceiver = await startPushReceiver(dataDir, (r) => {
      pushedToSn.push(r);
      return 204;
    });
    cleanUp.push(async () => {
      await stReceiver.close();
      await snReceiver.close();
    });
    const contractsDir = pushContracts({ 'st-melde': stReceiver.url, 'sn-melde': snReceiver.url });
    return { pushedToSn, contractsDir };
  }

  it('put into the pull inbox: the trail and the archive name the version in the inbox', async () => {
    const { dataDir, settings } = storage();
    let t = await gateway(dataDir, settings);
    const msg = rueckmeldung();
    const receiptId = receiptIdFor(msg.id);
    const crash = crashBeforeTheTrailOf(t, receiptId);
    expect((await t.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    await eventually(
      async () => ((await t.gateway.mailbox.get('st-melde', msg.id)) ? true : undefined),
      15_000,
      'the 0201 in the st-melde inbox',
    );
    expect((await t.client('st-melde').call('POST', `/v1/systems/st-melde/inbox/${msg.id}/ack`)).status).toBe(
      200,
    );
    const first = await eventually(
      () => t.gateway.mailbox.get('sn-melde', receiptId),
      15_000,
      'the receipt in the sn-melde inbox',
    );
    await t.gateway.followUps.receipts.idle();
    expect(crash).toHaveBeenCalled();
    // What the crash left: the receipt in the inbox, no trail.
    expect(await t.gateway.auditStore.query({ messageId: receiptId })).toEqual([]);
    crash.mockRestore();
    await t.stop();

    t = await gateway(dataDir, settings);
    await t.gateway.followUps.caughtUp;
    await eventually(
      async () => ((await t.gateway.auditStore.hasEvent(receiptId, 'delivered')) ? true : undefined),
      15_000,
      'the receipt audited as delivered',
    );
    await t.gateway.followUps.receipts.idle();

    const inInbox = await t.gateway.mailbox.get('sn-melde', receiptId);
    expect(inInbox?.digest).toBe(first.digest);
    expect(sha256(inInbox!.signedDocument)).toBe(first.digest);
    const trail = await t.gateway.auditStore.query({ messageId: receiptId });
    expect(digestsNamedBy(trail)).toEqual([first.digest]);
    expect(await archivedDigests(t, receiptId)).toEqual([first.digest]);
    // Not sealed again, so not published either: straight to the trail the put would have written.
    expect(trail.map((e) => e.kind).sort()).toEqual(['accepted', 'delivered', 'signed']);
    expect(trail.find((e) => e.kind === 'delivered')?.detail).toMatchObject({
      mode: 'pull',
      route: 'inbox',
      recovered: true,
    });
    const inbox = await t.gateway.mailbox.list('sn-melde', { limit: 1000 });
    expect(inbox.items.filter((i) => i.messageId === receiptId)).toHaveLength(1);
  });

  it('pushed from the bus: the trail names the version the sender was pushed', async () => {
    const { dataDir, settings } = storage();
    const { pushedToSn, contractsDir } = await pushReceivers(dataDir);
    let t = await gateway(dataDir, settings, contractsDir);
    const msg = rueckmeldung();
    const receiptId = receiptIdFor(msg.id);
    // The receipt is published, then its issuer dies; the delivery stage pushes it meanwhile.
    const crash = crashBeforeTheTrailOf(t, receiptId);
    expect((await t.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    const pushedDigest = await pushedDigestOf(t, receiptId, pushedToSn);
    await t.gateway.followUps.receipts.idle();
    expect((await t.gateway.auditStore.query({ messageId: receiptId })).map((e) => e.kind).sort()).toEqual([
      'acknowledged',
      'delivered',
      'delivery-attempted',
    ]);
    crash.mockRestore();
    await t.stop();

    t = await gateway(dataDir, settings, contractsDir);
    await issuedAgain(t, receiptId);
    await expectOnlyThePushedVersion(t, receiptId, pushedToSn, pushedDigest);
  });

  it('published, not yet consumed: the same version is published again, and it is what the sender gets', async () => {
    const { dataDir, settings } = storage();
    const { pushedToSn, contractsDir } = await pushReceivers(dataDir);
    const msg = rueckmeldung();
    const receiptId = receiptIdFor(msg.id);
    const delivery = holdDeliveryOf(receiptId);
    let t = await gateway(dataDir, settings, contractsDir);
    // The receipt is published, then its issuer dies; nothing consumes it before the stop.
    const crash = crashBeforeTheTrailOf(t, receiptId);
    expect((await t.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    await eventually(
      async () =>
        delivery.spy.mock.calls.some(([, r]) => r.headers[HEADER.messageId] === receiptId) ? true : undefined,
      15_000,
      'the receipt published to sn-melde and held back',
    );
    await t.gateway.followUps.receipts.idle();
    expect(crash).toHaveBeenCalled();
    expect(await t.gateway.auditStore.query({ messageId: receiptId })).toEqual([]);
    crash.mockRestore();
    await t.stop();
    expect(pushedToSn).toEqual([]);

    t = await gateway(dataDir, settings, contractsDir);
    await issuedAgain(t, receiptId);
    // The first version is still ahead of whatever the re-issue published.
    delivery.release();
    const pushedDigest = await pushedDigestOf(t, receiptId, pushedToSn);
    await expectOnlyThePushedVersion(t, receiptId, pushedToSn, pushedDigest);
  });
});
