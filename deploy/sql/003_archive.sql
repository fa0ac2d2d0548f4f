-- The document archive (gateway/audit/archive/): full signed documents, encrypted at rest with
-- AES-256-GCM under one data key per expiry day. Destroying a day's key (crypto-shredding) makes
-- every copy of those documents unreadable, backups included; the audit chain holds only digests.

CREATE TABLE archive_keys (
  expires_on  text COLLATE "C" PRIMARY KEY,  -- YYYY-MM-DD (UTC): the day its documents' retention ends
  wrapped_key bytea NOT NULL,                -- the data key, AES-256-GCM under the archive master key
  created_at  text NOT NULL
);

CREATE TABLE archive_documents (
  message_id   text COLLATE "C" NOT NULL,
  digest       text COLLATE "C" NOT NULL,
  content_type text NOT NULL,
  archived_at  text NOT NULL,
  expires_on   text COLLATE "C" NOT NULL,
  ciphertext   bytea,  -- iv ‖ AES-256-GCM ciphertext ‖ tag; NULL once shredded
  shredded_at  text,
  PRIMARY KEY (message_id, digest)
);
CREATE INDEX archive_documents_by_expiry ON archive_documents (expires_on) WHERE ciphertext IS NOT NULL;

-- Settings of the archive itself, e.g. the salt of the master key derivation.
CREATE TABLE archive_meta (
  name  text PRIMARY KEY,
  value text NOT NULL
);
