import { describe, expect, it } from 'vitest';
import type { AuditEntry, AuditEventKind } from '../ports/audit-store.ts';
import { messageView } from './status.ts';

function trail(...kinds: AuditEventKind[]): AuditEntry[] {
  return kinds.map((kind, i) => ({
    chain: 'main',
    seq: i + 1,
    prevHash: '',
    hash: '',
    time: new Date(0).toISOString(),
    kind,
    actor: 'gateway',
    messageId: 'm',
    sender: 'ags:14612000',
    receiver: 'ags:15003000',
    senderSystem: 'sn-melde',
    receiverSystem: 'st-melde',
    messageType: 't',
    digest: null,
    detail: {},
  }));
}

describe('message status from the audit trail', () => {
  it('follows the lifecycle', () => {
    expect(messageView('m', trail('received', 'accepted', 'signed'))?.status).toBe('accepted');
    expect(messageView('m', trail('received', 'accepted', 'signed', 'queued'))?.status).toBe('queued');
    expect(
      messageView('m', trail('received', 'accepted', 'signed', 'queued', 'delivery-attempted'))?.status,
    ).toBe('queued');
    expect(
      messageView('m', trail('received', 'accepted', 'queued', 'delivered', 'acknowledged'))?.status,
    ).toBe('acknowledged');
  });

  it('never moves backwards when events arrive out of stage order', () => {
    expect(messageView('m', trail('received', 'queued', 'delivered', 'delivery-attempted'))?.status).toBe(
      'delivered',
    );
  });

  it('shows failures, and a replay after dead-lettering', () => {
    expect(messageView('m', trail('rejected'))?.status).toBe('rejected');
    expect(messageView('m', trail('received', 'accepted', 'queued', 'dead-lettered'))?.status).toBe(
      'dead-lettered',
    );
    expect(
      messageView('m', trail('received', 'queued', 'dead-lettered', 'replayed', 'delivered'))?.status,
    ).toBe('delivered');
  });

  it('keeps the status of an accepted message when a resend of it is refused or fails', () => {
    // A replayed nachrichtenUUID is refused (409) and audited in the message's trail.
    expect(messageView('m', trail('received', 'accepted', 'queued', 'delivered', 'rejected'))?.status).toBe(
      'delivered',
    );
    expect(messageView('m', trail('received', 'accepted', 'signed', 'queued', 'failed'))?.status).toBe(
      'queued',
    );
    // Before acceptance a refusal or a failure is the message's status, and a later acceptance clears it.
    expect(messageView('m', trail('failed'))?.status).toBe('failed');
    expect(messageView('m', trail('rejected', 'received', 'accepted'))?.status).toBe('accepted');
  });

  it('is undefined for an unknown message', () => {
    expect(messageView('m', [])).toBeUndefined();
  });
});
