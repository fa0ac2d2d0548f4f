-- Pull inbox visibility timeout (issue 8; gateway/http/routes/inbox.ts): fetching an unacknowledged
-- item leases it until this time (ISO 8601 text, like the other times of the mailbox); until then
-- the inbox listing leaves it out, afterwards it is listed again.

ALTER TABLE mailbox_inbox ADD COLUMN leased_until text;
