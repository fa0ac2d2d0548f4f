-- The replay generations of the message search rows' fold (gateway/audit/message-summary.ts): the
-- highest generation replayed and the highest dead-lettered so far, so that a dead-letter stands
-- unless a later generation was replayed, whichever of the two entries the projector folds first
-- (they live in different chains, and the same millisecond does not order them). NULL: no entry
-- carried one (trails from before generations fold by the old rule). Unindexed, like the other fold
-- columns: the projector's updates stay HOT.

ALTER TABLE audit_messages ADD COLUMN replay_generation integer;
ALTER TABLE audit_messages ADD COLUMN dead_letter_generation integer;
