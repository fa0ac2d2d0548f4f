import { describe, expect, it } from 'vitest';
import { callbackEvent, parseCallbackEvent } from './callback-event.ts';

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
});
