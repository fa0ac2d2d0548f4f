-- The delivery stage's memory (gateway/mailbox/pg-mailbox-store.ts): the per-receiver ledger of
-- delivered nachrichtenUUIDs (effectively-once delivery) and the pull inboxes.

CREATE TABLE mailbox_delivered (
  system_id    text COLLATE "C" NOT NULL,
  message_id   text COLLATE "C" NOT NULL,
  mode         text NOT NULL CHECK (mode IN ('pull', 'push')),
  delivered_at text NOT NULL,
  PRIMARY KEY (system_id, message_id)
);

CREATE TABLE mailbox_inbox (
  seq                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  system_id           text COLLATE "C" NOT NULL,
  message_id          text COLLATE "C" NOT NULL,
  message_type        text NOT NULL,
  sender_authority    text NOT NULL,
  receiver_authority  text NOT NULL,
  sender_system       text NOT NULL,
  digest              text NOT NULL,
  signed_document     text NOT NULL,
  native_content_type text NOT NULL,
  native_body         bytea NOT NULL,
  created_at          text NOT NULL,
  acked_at            text,
  UNIQUE (system_id, message_id)
);
CREATE INDEX mailbox_inbox_pending ON mailbox_inbox (system_id, seq) WHERE acked_at IS NULL;
