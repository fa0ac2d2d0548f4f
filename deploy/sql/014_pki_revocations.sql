-- Revoked certificates shared by the replicas (gateway/pki/pg-revocation-store.ts): `gw pki revoke`
-- beside any replica refuses the certificate at every replica within a second (each polls
-- count/max(seq) and re-reads the list when it changed), and a replaced pod, whose data directory is
-- a fresh copy of the PKI Secret, loses none. The same entries as <dataDir>/pki/revoked.json of the
-- embedded mode; times as ISO 8601 text ("C" collation) like the tokens. Rows are never updated or
-- deleted: a revocation is final.

CREATE TABLE pki_revocation (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  serial text COLLATE "C" NOT NULL UNIQUE CHECK (serial ~ '^[0-9a-f]{2,42}$'),
  revoked_at text COLLATE "C" NOT NULL,
  reason text NOT NULL CHECK (reason IN ('unspecified', 'keyCompromise', 'cACompromise',
    'affiliationChanged', 'superseded', 'cessationOfOperation', 'certificateHold', 'privilegeWithdrawn')),
  subject text,
  revoked_by text NOT NULL
);
