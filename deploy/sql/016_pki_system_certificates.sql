-- The connected systems' pinned certificates shared by the replicas
-- (gateway/pki/pg-system-certificate-store.ts): the certificate a document the system signed
-- itself must be signed with. `gw pki issue` beside any replica re-pins the system at every replica
-- within a second (each polls count/max(seq) and re-reads the pins when it changed), and a replaced
-- pod, whose data directory is a stale copy of the PKI Secret, never pins the old certificate.
--
-- History, not state: every pin is a row, the system's pin is its row with the highest seq (pins of
-- one system are serialised by an advisory lock, so seq order is their commit order). Rows are never
-- updated or deleted; a serial is pinned once, so a replaced certificate never becomes the pin again.
-- Times as ISO 8601 text ("C" collation) like the revocations.

CREATE TABLE pki_system_certificate (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  system_id text COLLATE "C" NOT NULL CHECK (system_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'),
  serial text COLLATE "C" NOT NULL UNIQUE CHECK (serial ~ '^[0-9a-f]{2,42}$'),
  certificate_pem text NOT NULL,
  not_before text COLLATE "C" NOT NULL,
  not_after text COLLATE "C" NOT NULL,
  issued_at text COLLATE "C" NOT NULL,
  issued_by text NOT NULL
);

CREATE INDEX pki_system_certificate_pin ON pki_system_certificate (system_id, seq DESC);
