-- The audit log (gateway/audit/pg-audit-store.ts). Hash rules: gateway/audit/hash-chain.ts.
-- Identifiers and times are COLLATE "C": byte order, the same order SQLite and the verifier use,
-- and prefix ranges (ags:14*) can use the indexes. Times are ISO 8601 UTC text exactly as hashed.

CREATE TABLE audit_entries (
  chain           text COLLATE "C" NOT NULL,
  seq             bigint NOT NULL CHECK (seq >= 1),
  time            text COLLATE "C" NOT NULL,
  kind            text NOT NULL,
  actor           text NOT NULL,
  message_id      text COLLATE "C",
  sender          text,
  receiver        text,
  sender_system   text,
  receiver_system text,
  message_type    text,
  digest          text,
  detail          text NOT NULL,  -- the JSON text that was hashed (jsonb would reorder and reject \u0000)
  prev_hash       text NOT NULL,
  hash            text NOT NULL,
  idempotency_key text COLLATE "C",
  PRIMARY KEY (chain, seq)
);
CREATE INDEX audit_entries_by_message ON audit_entries (message_id, chain, seq) WHERE message_id IS NOT NULL;
CREATE INDEX audit_entries_by_kind ON audit_entries (kind, chain, seq);
CREATE UNIQUE INDEX audit_entries_idempotency ON audit_entries (chain, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

-- One row per chain: its head. Appenders lock it FOR UPDATE, which serialises appends per chain
-- across processes while appends to different chains run in parallel.
CREATE TABLE audit_chains (
  chain text COLLATE "C" PRIMARY KEY,
  seq   bigint NOT NULL,
  hash  text NOT NULL
);

CREATE TABLE audit_checkpoints (
  id        bigint PRIMARY KEY CHECK (id >= 1),
  time      text COLLATE "C" NOT NULL,
  hash      text NOT NULL,
  body      text NOT NULL,  -- the signed bytes (canonical JSON)
  signature text NOT NULL
);
-- For each checkpoint, the chains it covers and their head: finds the checkpoint that proves an entry.
CREATE TABLE audit_checkpoint_heads (
  checkpoint_id bigint NOT NULL REFERENCES audit_checkpoints (id),
  chain         text COLLATE "C" NOT NULL,
  seq           bigint NOT NULL,
  PRIMARY KEY (checkpoint_id, chain)
);
CREATE INDEX audit_checkpoint_heads_by_chain ON audit_checkpoint_heads (chain, seq, checkpoint_id);

-- The auditors' search rows: one per message, maintained in the append transaction (a projection
-- of audit_entries, not evidence). Every search filter is an index range ending in (first_time, message_id).
CREATE TABLE audit_messages (
  message_id      text COLLATE "C" PRIMARY KEY,
  first_time      text COLLATE "C" NOT NULL,
  last_time       text COLLATE "C" NOT NULL,
  status          text COLLATE "C" NOT NULL,
  progress_rank   smallint NOT NULL,
  progress_status text NOT NULL,
  failure_status  text,
  message_type    text COLLATE "C",
  sender          text COLLATE "C",
  receiver        text COLLATE "C",
  sender_system   text COLLATE "C",
  receiver_system text COLLATE "C",
  digest          text,
  events          integer NOT NULL
) WITH (fillfactor = 70);  -- room on the page: updates of unindexed columns stay HOT (no index writes)
CREATE INDEX audit_messages_by_time ON audit_messages (first_time, message_id);
CREATE INDEX audit_messages_by_sender ON audit_messages (sender, first_time, message_id);
CREATE INDEX audit_messages_by_receiver ON audit_messages (receiver, first_time, message_id);
CREATE INDEX audit_messages_by_sender_system ON audit_messages (sender_system, first_time, message_id);
CREATE INDEX audit_messages_by_receiver_system ON audit_messages (receiver_system, first_time, message_id);
CREATE INDEX audit_messages_by_type ON audit_messages (message_type, first_time, message_id);
CREATE INDEX audit_messages_by_status ON audit_messages (status, first_time, message_id);

-- Append-only. Triggers stop every role, the owner included; REVOKE matters once the gateway runs
-- as a role that does not own the tables (recommended: GRANT SELECT, INSERT only). Neither stops a
-- superuser; verify does.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoint_heads_append_only BEFORE UPDATE OR DELETE ON audit_checkpoint_heads
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoint_heads_no_truncate BEFORE TRUNCATE ON audit_checkpoint_heads
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_entries, audit_checkpoints, audit_checkpoint_heads FROM PUBLIC;
