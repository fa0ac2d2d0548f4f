-- Replay protection across the processes sharing this database (gateway/pipeline/pg-message-id-leases.ts):
-- a nachrichtenUUID that a process is accepting right now, claimed before the audit trail is asked
-- whether it was accepted. A claim is a lease, renewed while its holder's request is in flight:
-- one left by a crashed process expires, and a request waiting for it goes ahead. Answered, a
-- refused or failed request's claims are deleted; an accepted one's are left to expire (`accepted`
-- is in the trail, which a request meeting such a row asks first), and each process deletes the
-- expired rows once per lease: the table holds about two leases' worth of accepted ids. No index on
-- expires_at: that sweep scans a table this small cheaply, and every claim and renewal would write
-- the index. UNLOGGED: only in-flight requests need a claim, and a database crash ends those
-- anyway (no WAL per message either).

CREATE UNLOGGED TABLE message_id_claim (
  message_id text COLLATE "C" PRIMARY KEY,
  holder text COLLATE "C" NOT NULL,
  expires_at timestamptz NOT NULL
);
