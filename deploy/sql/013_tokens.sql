-- Bearer tokens of people (auditors, operators) shared by the replicas (gateway/auth/pg-token-store.ts):
-- a token issued by `gw token issue` in any replica admits its holder at every replica, and a
-- revocation refuses the very next request at all of them (each check reads the row by its primary
-- key; nothing is cached). The same rows as <dataDir>/auth.sqlite of the embedded mode: the secret
-- only as its SHA-256, times as ISO 8601 text ("C" collation, they compare as written) like the
-- answer cases. Rows are kept after expiry and revocation: `gw token list` shows them.

CREATE TABLE auth_token (
  id text COLLATE "C" PRIMARY KEY CHECK (id ~ '^[0-9a-f]{12}$'),
  secret_hash bytea NOT NULL CHECK (octet_length(secret_hash) = 32),
  role text NOT NULL CHECK (role IN ('auditor', 'operator')),
  scope text NOT NULL,
  name text NOT NULL,
  created_at text COLLATE "C" NOT NULL,
  created_by text NOT NULL,
  expires_at text COLLATE "C" NOT NULL,
  revoked_at text COLLATE "C",
  permissions text[] NOT NULL DEFAULT '{}'
);
