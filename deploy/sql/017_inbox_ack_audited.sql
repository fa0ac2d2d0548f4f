-- Pull acks whose `acknowledged` audit entry is confirmed (gateway/mailbox/ack-audit-sweep.ts). An ack
-- commits in the mailbox before its audit entry is appended; the append may fail, or the process may
-- die in between, and a receiver that never resends the ack would leave the trail without it. The
-- ack route marks the row once the entry is written (in batches: gateway/mailbox/ack-audit-marks.ts);
-- the sweep looks only at acked rows without the mark (the partial index holds just those), writes
-- what is missing, and marks them.
-- ack_audit_claimed_until: the replica sweeping a row holds it until then (the others skip it).
-- Rows acked before this migration have no mark: the sweep confirms them once (each one a look in
-- the audit log, a write only where the entry is missing).

ALTER TABLE mailbox_inbox ADD COLUMN ack_audited_at text;
ALTER TABLE mailbox_inbox ADD COLUMN ack_audit_claimed_until text;
CREATE INDEX mailbox_inbox_ack_unaudited ON mailbox_inbox (acked_at)
  WHERE acked_at IS NOT NULL AND ack_audited_at IS NULL;
