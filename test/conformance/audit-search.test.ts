/**
 * The search rows' status, folded entry by entry as the stores append, against the status API's
 * messageView over the whole trail: the two must never disagree.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chainEntry, GENESIS_HASH } from '../../gateway/audit/hash-chain.ts';
import { foldEntry, type SummaryState, summaryOf } from '../../gateway/audit/message-summary.ts';
import { messageView } from '../../gateway/pipeline/status.ts';
import { AUDIT_EVENT_KINDS, type AuditEntry } from '../../gateway/ports/audit-store.ts';
import { auditEvent } from './audit-store.conformance.ts';

describe('message search rows', () => {
  it('fold to the status messageView derives from the same trail', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            kind: fc.constantFrom(...AUDIT_EVENT_KINDS),
            sender: fc.option(fc.constantFrom('ags:14612000', 'ags:15003000'), { nil: null }),
          }),
          { minLength: 1, maxLength: 15 },
        ),
        (events) => {
          let head = { seq: 0, hash: GENESIS_HASH };
          const trail: AuditEntry[] = events.map((e) => {
            const entry = chainEntry(
              auditEvent({ messageId: 'm', kind: e.kind, sender: e.sender }),
              'main',
              head,
            );
            head = entry;
            return entry;
          });
          let state: SummaryState | undefined;
          for (const entry of trail) state = foldEntry(state, entry);
          const view = messageView('m', trail)!;
          const summary = summaryOf(state!);
          expect(summary.status).toBe(view.status);
          expect(summary.sender).toBe(view.sender);
          expect(summary.events).toBe(trail.length);
          expect(summary.firstTime).toBe(trail[0]!.time);
          expect(summary.lastTime).toBe(trail.at(-1)!.time);
        },
      ),
      { numRuns: 500 },
    );
  });
});
