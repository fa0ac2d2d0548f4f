-- Per-case delivery order (issue 8; gateway/pipeline/case-order.ts, gateway/mailbox/pg-mailbox-store.ts).
-- A record of a case that cannot be delivered now takes a ticket; the case's head is its lowest
-- pending ticket, and only the head is attempted. Ticket numbers come from an identity column:
-- increasing in the order they are taken and never reused.

CREATE TABLE mailbox_case_tickets (
  ticket      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  system_id   text COLLATE "C" NOT NULL,
  case_key    text COLLATE "C" NOT NULL,
  -- `<topic>/<partition>/<offset>` of the record that took it: taking again returns the same ticket.
  source      text COLLATE "C" NOT NULL,
  message_id  text NOT NULL,
  not_before  text NOT NULL,
  taken_at    text NOT NULL,
  settled_at  text,
  outcome     text CHECK (outcome IN ('delivered', 'dead-lettered')),
  UNIQUE (system_id, source)
);
CREATE INDEX mailbox_case_tickets_pending ON mailbox_case_tickets (system_id, case_key, ticket)
  WHERE settled_at IS NULL;
CREATE INDEX mailbox_case_tickets_settled ON mailbox_case_tickets (settled_at) WHERE settled_at IS NOT NULL;
