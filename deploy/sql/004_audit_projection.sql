-- The auditors' search rows (audit_messages) are projected from audit_entries in the background
-- (gateway/audit/pg-message-projector.ts), so that appends do not pay for the search indexes on
-- every event: the events of one message arrive within moments of each other and are folded into
-- one row update. One projector at a time per schema (advisory lock), whichever process it runs in.
-- How far each chain is projected:
CREATE TABLE audit_projection (
  chain text COLLATE "C" PRIMARY KEY,
  seq   bigint NOT NULL
);
