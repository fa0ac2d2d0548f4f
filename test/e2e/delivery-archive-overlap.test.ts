/**
 * The delivery stage starts a document's archive write before the push and waits for it only once
 * the receiver answered, so the two overlap (gateway/pipeline/delivery.ts); the ledger row still
 * waits for the archive, so a message the ledger calls pushed is archived. Here the archive write
 * takes 600 ms: the push must arrive while it runs, and the ledger row must come after it.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArchiveRequest } from '../../gateway/audit/archive/document-archiver.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import {
  eventually,
  pushContracts,
  startTestGateway,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';
import { startPushReceiver } from '../support/push-receiver.ts';

const ARCHIVE_DELAY_MS = 600;

describe('the archive write of a pushed document', () => {
  let t: TestGateway | undefined;
  let receiver: Awaited<ReturnType<typeof startPushReceiver>> | undefined;
  const pushedAt = new Map<string, number>();

  beforeAll(async () => {
    const dataDir = tempDir('delivery-archive-overlap');
    receiver = await startPushReceiver(dataDir, (request) => {
      pushedAt.set(request.messageId, performance.now());
      return 204;
    });
    t = await startTestGateway({ dataDir, contractsDir: pushContracts({ 'st-melde': receiver.url }) });
  });
  afterAll(async () => {
    await t?.stop();
    await receiver?.close();
  });

  it('runs while the push does, and is done before the ledger records the push', async () => {
    const { archiver, mailbox, auditStore } = t!.gateway;
    if (!archiver) throw new Error('the test gateway archives documents by default');
    const message = rueckmeldung();
    const archived = new Map<string, { started: number; done: number; stored: boolean }>();
    const archive = archiver.archive.bind(archiver);
    archiver.archive = async (request: ArchiveRequest) => {
      const started = performance.now();
      await new Promise((resolve) => setTimeout(resolve, ARCHIVE_DELAY_MS));
      const stored = await archive(request);
      archived.set(request.messageId, { started, done: performance.now(), stored });
      return stored;
    };
    const ledgerSawArchive: boolean[] = [];
    const recordPushed = mailbox.recordPushed.bind(mailbox);
    mailbox.recordPushed = (systemId: string, messageId: string) => {
      if (messageId === message.id) ledgerSawArchive.push(archived.get(messageId)?.stored === true);
      return recordPushed(systemId, messageId);
    };

    const sn = t!.client('sn-melde');
    expect((await sn.send('sn-melde', message.body, 'application/json')).status).toBe(202);
    await eventually(
      async () =>
        (await auditStore.query({ messageId: message.id, kind: 'delivered' })).length === 1
          ? true
          : undefined,
      30_000,
      'the message delivered',
    );
    const write = archived.get(message.id);
    const pushed = pushedAt.get(message.id);
    expect(write?.stored).toBe(true);
    expect(pushed).toBeDefined();
    // The push reached the receiver while the archive write was still running.
    expect(pushed!).toBeGreaterThan(write!.started);
    expect(pushed!).toBeLessThan(write!.done);
    expect(ledgerSawArchive).toEqual([true]);
  });
});
