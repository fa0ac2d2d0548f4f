-- Overdue reminders at least once (gateway/deadlines/overdue-watcher.ts): the claim of a reminder is
-- a lease until this time (ISO 8601 text, like the other times of the case; "C" collation so that
-- they compare as written). reminded_at is set only once the reminder is on the bus; a claim that
-- expired without it (its holder crashed, or could not publish) is taken again by the next check.

ALTER TABLE answer_case ADD COLUMN reminder_claimed_until text COLLATE "C";
