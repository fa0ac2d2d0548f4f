/**
 * Callback event ids of audit entries, on both stores: the event the live listener builds from an
 * appended entry and the one the catch-up builds from the same entry read back (owed-callbacks.ts,
 * another process on the same data) are identical, id included; the occurrences of a recurring
 * status — a dead-letter per replay generation, a failure per request — have ids of their own; and
 * the dispatcher verifies each event as it reads it back from the bus.
 */
import { describe, expect, it } from 'vitest';
import { eventOfEntry, parseCallbackEvent } from '../../gateway/callbacks/callback-event.ts';
import { NotifyingAuditLog } from '../../gateway/callbacks/notifying-audit-log.ts';
import { owedCallbacks } from '../../gateway/callbacks/owed-callbacks.ts';
import { deliveryChain } from '../../gateway/pipeline/delivery-audit.ts';
import type { AuditEntry } from '../../gateway/ports/audit-store.ts';
import { auditStorePairs } from './audit-store-pairs.ts';

const MESSAGE = '6f1c2a9e-1b2c-4d3e-8f9a-0b1c2d3e4f5a';
const RESENT = '0d2a7c4e-5b6f-4a3b-9c8d-7e6f5a4b3c2d';
const about = (messageId: string) => ({
  messageId,
  senderSystem: 'sn-melde',
  receiverSystem: 'st-melde',
  messageType: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
});

for (const [name, open] of Object.entries(auditStorePairs('cbids'))) {
  describe(`callback event ids of audit entries (${name})`, () => {
    it('are the same live and read back, and tell the occurrences of a recurring status apart', async () => {
      const { store, other, cleanup } = await open();
      try {
        const live: AuditEntry[] = [];
        const main = new NotifyingAuditLog(store);
        main.onEntry((entry) => live.push(entry));
        const delivery = main.withChain(deliveryChain('st-melde', 0));
        // A resent message whose first two requests failed on the gateway's side (5xx).
        for (const requestId of [
          '5c0de7b3-0f3e-4a8e-b2a4-9d1b3f8c2e01',
          'a4d2c9e1-77b0-4a5f-8c3e-1e2f3a4b5c6d',
        ])
          await main.record({
            kind: 'failed',
            actor: 'system:sn-melde',
            ...about(RESENT),
            detail: { code: 'GW_ERR_BUS_UNAVAILABLE', requestId, messages: 1 },
          });
        await delivery.record({
          kind: 'delivered',
          actor: 'gateway',
          ...about(RESENT),
          detail: { attempt: 1 },
        });
        // A message dead-lettered, replayed by an operator, dead-lettered again.
        const deadLetter = (replayGeneration: number) =>
          delivery.record({
            kind: 'dead-lettered',
            actor: 'gateway',
            ...about(MESSAGE),
            detail: { reason: 'HTTP 400', attempts: 1, instance: 'test', replayGeneration },
          });
        await deadLetter(0);
        await main.record({
          kind: 'replayed',
          actor: 'cli',
          ...about(MESSAGE),
          detail: { from: 'dead-letter', position: '0/0', attempts: 1, replayGeneration: 1 },
        });
        await deadLetter(1);

        const liveEvents = live.map(eventOfEntry).filter((e) => e !== undefined);
        expect(liveEvents.map((e) => e.event.status)).toEqual([
          'failed',
          'failed',
          'delivered',
          'dead-lettered',
          'dead-lettered',
        ]);
        // Read back by another process, as the catch-up and the takeover of a chain do.
        const readBack: AuditEntry[] = [];
        for (const chain of ['main', deliveryChain('st-melde', 0)])
          readBack.push(...(await owedCallbacks(other, chain, 1, 100, 100)));
        const readEvents = readBack.map(eventOfEntry).filter((e) => e !== undefined);
        expect(readEvents).toEqual(liveEvents);
        expect(readEvents.map((e) => JSON.stringify(e.event))).toEqual(
          liveEvents.map((e) => JSON.stringify(e.event)),
        );

        const ids = liveEvents.map((e) => e.event.id);
        expect(new Set(ids).size).toBe(ids.length);
        expect(
          liveEvents.filter((e) => e.event.status === 'dead-lettered').map((e) => e.event),
        ).toMatchObject([{ replayGeneration: 0 }, { replayGeneration: 1 }]);
        // As the dispatcher reads them back from the bus: each verifies as the event the gateway built.
        for (const { event } of readEvents)
          expect(parseCallbackEvent(Buffer.from(JSON.stringify(event), 'utf8'))).toEqual(event);
      } finally {
        await cleanup();
      }
    });
  });
}
