-- Daily message quotas shared by the replicas (gateway/quota/pg-quota-counter.ts): per connected
-- system and Berlin calendar day (YYYY-MM-DD, "C" collation so that days compare as written) the
-- units reserved by accepted or in-flight messages. A reservation is one conditional upsert on the
-- row (used < limit), so replicas racing for the last unit cannot both get it. Rows of past days
-- are deleted by the replicas as days go by.

CREATE TABLE message_quota (
  system_id text COLLATE "C" NOT NULL,
  day text COLLATE "C" NOT NULL,
  used integer NOT NULL CHECK (used >= 0),
  PRIMARY KEY (system_id, day)
);
