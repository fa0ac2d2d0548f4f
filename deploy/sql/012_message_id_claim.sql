-- Replay protection across the processes sharing this database (gateway/pipeline/pg-message-id-leases.ts):
-- a nachrichtenUUID that a process is accepting right now, claimed before the audit trail is asked
-- whether it was accepted and deleted once the request is answered (`accepted` is in the trail by
-- then). A claim is a lease, renewed while its holder lives: one left by a crashed process expires,
-- and a request waiting for it goes ahead. UNLOGGED: only in-flight requests need a claim, and a
-- database crash ends those anyway (no WAL per message either).

CREATE UNLOGGED TABLE message_id_claim (
  message_id text COLLATE "C" PRIMARY KEY,
  holder text COLLATE "C" NOT NULL,
  expires_at timestamptz NOT NULL
);
