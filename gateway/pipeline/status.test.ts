import { describe, expect, it } from 'vitest';
import type { AuditEntry, AuditEventKind } from '../ports/audit-store.ts';
import { deliveryChain, retryChain } from './delivery-audit.ts';
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

const DELIVER = deliveryChain('st-melde', 0);
const RETRY = retryChain('st-melde', 0);

/** Entries on their chains, seq counted per chain in the order given; `ms` after a fixed instant. */
function chained(
  ...events: [chain: string, ms: number, kind: AuditEventKind, detail?: Record<string, unknown>][]
): AuditEntry[] {
  const seqs = new Map<string, number>();
  return events.map(([chain, ms, kind, detail]) => {
    const seq = (seqs.get(chain) ?? 0) + 1;
    seqs.set(chain, seq);
    return {
      ...trail(kind)[0]!,
      chain,
      seq,
      time: new Date(Date.UTC(2026, 10, 29) + ms).toISOString(),
      detail: detail ?? {},
    };
  });
}

const INGRESS = (chain: string, ms: number) =>
  (['received', 'accepted', 'signed', 'queued'] as const).map(
    (kind) => [chain, ms, kind] as [string, number, AuditEventKind],
  );

/** The history as `event@chain` (generation and attempt where recorded), and the same for any input order. */
function historyOf(entries: AuditEntry[]): string[] {
  const label = (h: { chain: string; event: string; detail: Record<string, unknown> }) =>
    [
      h.event,
      h.detail.replayGeneration === undefined ? '' : `#${h.detail.replayGeneration}`,
      h.detail.attempt === undefined ? '' : `/${h.detail.attempt}`,
      h.chain === DELIVER ? '@D' : h.chain === RETRY ? '@R' : `@${h.chain}`,
    ].join('');
  const history = messageView('m', entries)!.history.map(label);
  expect(messageView('m', [...entries].reverse())!.history.map(label)).toEqual(history);
  return history;
}

describe('message history in causal order', () => {
  it('puts the ingress entries before the delivery, also in the same millisecond (a chain name sorting first)', () => {
    const entries = chained(...INGRESS('main', 5), [DELIVER, 5, 'delivered'], [DELIVER, 5, 'acknowledged']);
    expect(historyOf(entries)).toEqual([
      'received@main',
      'accepted@main',
      'signed@main',
      'queued@main',
      'delivered@D',
      'acknowledged@D',
    ]);
  });

  it('puts the ingress entries before a first delivery attempt with an earlier time', () => {
    const entries = chained(
      [DELIVER, 1, 'delivery-attempted', { attempt: 1 }],
      [RETRY, 2, 'delivery-attempted', { attempt: 2 }],
      [RETRY, 2, 'delivered', { attempt: 2 }],
      ...INGRESS('main', 3),
    );
    const history = historyOf(entries);
    expect(history).toEqual([
      'received@main',
      'accepted@main',
      'signed@main',
      'queued@main',
      'delivery-attempted/1@D',
      'delivery-attempted/2@R',
      'delivered/2@R',
    ]);
    expect(messageView('m', entries)!.status).toBe('delivered');
  });

  it('puts a replay before the delivery it caused, though appended after it', () => {
    const entries = chained(
      ...INGRESS('main', 0),
      [DELIVER, 1, 'delivery-attempted', { attempt: 1 }],
      [RETRY, 3, 'delivery-attempted', { attempt: 2 }],
      [RETRY, 3, 'dead-lettered', { attempts: 2, replayGeneration: 0 }],
      // Generation 1 is delivered (ms 7) before its `replayed` is appended (ms 9).
      [DELIVER, 7, 'delivery-attempted', { attempt: 1 }],
      [DELIVER, 7, 'delivered', { attempt: 1 }],
      [DELIVER, 7, 'acknowledged'],
      ['cli', 9, 'replayed', { replayGeneration: 1 }],
    );
    expect(historyOf(entries).slice(4)).toEqual([
      'delivery-attempted/1@D',
      'delivery-attempted/2@R',
      'dead-lettered#0@R',
      'replayed#1@cli',
      'delivery-attempted/1@D',
      'delivered/1@D',
      'acknowledged@D',
    ]);
    expect(messageView('m', entries)!.status).toBe('acknowledged');
  });

  it('puts a replay before the dead-letter of its own generation, in the same millisecond', () => {
    const entries = chained(
      ...INGRESS('main', 0),
      [DELIVER, 1, 'dead-lettered', { attempts: 0, replayGeneration: 0 }],
      [DELIVER, 4, 'delivery-attempted', { attempt: 1 }],
      [DELIVER, 4, 'dead-lettered', { attempts: 1, replayGeneration: 1 }],
      // `main` sorts after the partition's chain: by time and chain name the replay came last.
      ['main', 4, 'replayed', { replayGeneration: 1 }],
    );
    expect(historyOf(entries).slice(4)).toEqual([
      'dead-lettered#0@D',
      'replayed#1@main',
      'delivery-attempted/1@D',
      'dead-lettered#1@D',
    ]);
    expect(messageView('m', entries)!.status).toBe('dead-lettered');
  });

  it('keeps lower attempts of a generation first, across the deliver and the retry chain', () => {
    // Two processes, their clocks a few ms apart: the retried attempt carries the earlier time.
    const entries = chained(
      ...INGRESS('main', 0),
      [DELIVER, 1, 'delivery-attempted', { attempt: 1 }],
      [RETRY, 2, 'delivery-attempted', { attempt: 2 }],
      [RETRY, 2, 'dead-lettered', { attempts: 2, replayGeneration: 0 }],
      ['main', 3, 'replayed', { replayGeneration: 1 }],
      [DELIVER, 6, 'delivery-attempted', { attempt: 1 }],
      [RETRY, 5, 'delivery-attempted', { attempt: 2 }],
      [RETRY, 5, 'delivered', { attempt: 2 }],
    );
    expect(historyOf(entries).slice(4)).toEqual([
      'delivery-attempted/1@D',
      'delivery-attempted/2@R',
      'dead-lettered#0@R',
      'replayed#1@main',
      'delivery-attempted/1@D',
      'delivery-attempted/2@R',
      'delivered/2@R',
    ]);
  });

  it("puts a receiver's fetch and acknowledgement after the delivery to its inbox", () => {
    const entries = chained(
      ...INGRESS('main', 0),
      ['main', 2, 'fetched'],
      ['main', 2, 'acknowledged'],
      [DELIVER, 3, 'delivered', { mode: 'pull' }],
    );
    expect(historyOf(entries).slice(4)).toEqual(['delivered@D', 'fetched@main', 'acknowledged@main']);
  });

  it('keeps the time order of entries written before replay generations existed', () => {
    const entries = chained(
      ...INGRESS('main', 0),
      [DELIVER, 1, 'dead-lettered'],
      [DELIVER, 4, 'delivered'],
      ['main', 6, 'replayed'],
    );
    expect(historyOf(entries).slice(4)).toEqual(['dead-lettered@D', 'delivered@D', 'replayed@main']);
  });

  it('names each entry by its chain and seq', () => {
    const entries = chained(...INGRESS('main', 0), [DELIVER, 1, 'delivered']);
    expect(messageView('m', entries)!.history.map((h) => [h.chain, h.seq])).toEqual([
      ['main', 1],
      ['main', 2],
      ['main', 3],
      ['main', 4],
      [DELIVER, 1],
    ]);
  });
});
