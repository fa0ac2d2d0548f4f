import { describe, expect, it } from 'vitest';
import type { AuditEntry } from '../ports/audit-store.ts';
import { callbackEvent, eventOfEntry, parseCallbackEvent } from './callback-event.ts';

const fields = {
  messageId: '6f1c2a9e-1b2c-4d3e-8f9a-0b1c2d3e4f5a',
  messageType: 'xmeld:25.11:rueckmeldung.0201',
  status: 'overdue',
  time: '2026-11-29T10:00:00.000Z',
  receiverSystem: 'st-melde',
  deadline: '2026-12-02',
} as const;
const event = callbackEvent(fields);
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8');

/** An audit entry as the stores hand it to the listener and read it back. */
const entry = (kind: AuditEntry['kind'], detail: Record<string, unknown>, seq = 7): AuditEntry => ({
  chain: 'delivery.st-melde.0',
  seq,
  prevHash: '0'.repeat(64),
  hash: seq.toString(16).padStart(64, '0'),
  time: `2026-11-29T10:00:0${seq % 10}.000Z`,
  kind,
  actor: 'gateway',
  messageId: fields.messageId,
  sender: null,
  receiver: null,
  senderSystem: 'sn-melde',
  receiverSystem: 'st-melde',
  messageType: fields.messageType,
  digest: null,
  detail,
});
const deadLettered = (replayGeneration: number | undefined, seq = 7) =>
  eventOfEntry(
    entry('dead-lettered', { reason: 'HTTP 400', attempts: 1, instance: 'x', replayGeneration }, seq),
  )!.event;
const failed = (requestId: string | undefined, seq = 7) =>
  eventOfEntry(entry('failed', { code: 'GW_ERR_BUS_UNAVAILABLE', requestId, messages: 1 }, seq))!.event;
/** The ids the events of `fields.messageId` had before occurrences were told apart: UUIDv5 of `<messageId>/<status>`. */
const PLAIN_IDS = {
  delivered: '48c92476-98c1-5032-9b33-1800345a4b53',
  acknowledged: 'ca8e8ae4-2a94-5f95-b3cf-fe856e8bec85',
  failed: '1ccf81ef-0a7b-5f48-a489-e110c7e64e88',
  'dead-lettered': 'adc71a7b-8611-5324-be01-b3992f9168fb',
  overdue: '3964a764-285f-5f93-b2f0-25c4a3c96703',
};

describe('callback events read back from the bus', () => {
  it('accepts what callbackEvent built', () => {
    expect(parseCallbackEvent(bytes(event))).toEqual(event);
    const { deadline: _, ...delivered } = callbackEvent({ ...fields, status: 'delivered' });
    expect(parseCallbackEvent(bytes(delivered))).toEqual(delivered);
  });

  it('refuses anything the gateway could not have built', () => {
    const refused = [
      Buffer.from('not json'),
      bytes(null),
      bytes({ ...event, id: callbackEvent({ ...fields, status: 'delivered' }).id }),
      bytes({ ...event, type: 'message.delivered' }),
      bytes({ ...event, status: 'paid' }),
      bytes({ ...event, extra: 'field' }),
      bytes({ ...event, time: 'yesterday' }),
      bytes({ ...event, messageId: '' }),
    ];
    for (const value of refused) expect(parseCallbackEvent(value)).toBeUndefined();
  });

  it('verifies the dead-lettered and failed events of audit entries, and only with their own occurrence', () => {
    const again = deadLettered(1);
    const resent = failed('0b6f0a51-4c52-4a43-9a0c-6a2f8e1d9c11');
    for (const built of [deadLettered(0), again, deadLettered(undefined), failed(undefined), resent])
      expect(parseCallbackEvent(bytes(built))).toEqual(built);
    const refused = [
      // Another generation or request under the id of the first.
      { ...again, replayGeneration: 2 },
      { ...again, replayGeneration: 0 },
      { ...resent, requestId: 'another-request' },
      { ...again, replayGeneration: 1.5 },
      { ...again, replayGeneration: -1 },
      { ...again, replayGeneration: '1' },
      { ...resent, requestId: '' },
    ];
    for (const value of refused)
      expect(parseCallbackEvent(bytes(value)), JSON.stringify(value)).toBeUndefined();
    // An occurrence field on a status it does not belong to, even under the id it would yield.
    const misplaced = [
      { ...resent, status: 'delivered' as const },
      { ...again, status: 'acknowledged' as const },
      { ...event, status: 'delivered' as const },
    ].map(({ id: _, type: __, ...rest }) => callbackEvent(rest));
    for (const value of misplaced)
      expect(parseCallbackEvent(bytes(value)), JSON.stringify(value)).toBeUndefined();
  });
});

describe('callback event ids', () => {
  it('are the same for the same audit entry, whenever it is read', () => {
    // The live listener's entry and the catch-up's (a copy read back from a store, detail parsed from its JSON).
    const live = entry('dead-lettered', { reason: 'HTTP 400', attempts: 1, replayGeneration: 1 });
    const readBack = JSON.parse(JSON.stringify(live)) as AuditEntry;
    expect(eventOfEntry(readBack)).toEqual(eventOfEntry(live));
    expect(failed('r-1', 7).id).toBe(failed('r-1', 9).id);
    // A dead-letter of one generation found again (the same generation, another seq and time) is the same event.
    expect(deadLettered(1, 8).id).toBe(deadLettered(1, 12).id);
  });

  it('tell apart the dead-letters of each replay generation', () => {
    const ids = [deadLettered(0).id, deadLettered(1).id, deadLettered(2).id];
    expect(new Set(ids).size).toBe(3);
    expect(deadLettered(1)).toMatchObject({ status: 'dead-lettered', replayGeneration: 1 });
  });

  it('tell apart the failures of each request', () => {
    const first = failed('5c0de7b3-0f3e-4a8e-b2a4-9d1b3f8c2e01');
    const second = failed('a4d2c9e1-77b0-4a5f-8c3e-1e2f3a4b5c6d');
    expect(first.id).not.toBe(second.id);
    expect(first).toMatchObject({ status: 'failed', requestId: '5c0de7b3-0f3e-4a8e-b2a4-9d1b3f8c2e01' });
  });

  it('keep the ids of the statuses that happen once, of a first dead-letter and of entries without an occurrence', () => {
    const delivered = eventOfEntry(entry('delivered', { attempt: 1 }))!.event;
    const acknowledged = eventOfEntry(entry('acknowledged', {}))!.event;
    expect(delivered.id).toBe(PLAIN_IDS.delivered);
    expect(acknowledged.id).toBe(PLAIN_IDS.acknowledged);
    expect(event.id).toBe(PLAIN_IDS.overdue);
    expect(deadLettered(0).id).toBe(PLAIN_IDS['dead-lettered']);
    expect(deadLettered(undefined).id).toBe(PLAIN_IDS['dead-lettered']);
    expect(failed(undefined).id).toBe(PLAIN_IDS.failed);
    expect(Object.keys(delivered).sort()).toEqual(
      ['id', 'messageId', 'messageType', 'receiverSystem', 'status', 'time', 'type'].sort(),
    );
  });
});
