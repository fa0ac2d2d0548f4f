-- Answer deadlines shared by the replicas (gateway/deadlines/pg-overdue-cases.ts): the open answer
-- cases and the answers seen so far, so that every replica lists the same overdue cases and one
-- replica claims each reminder (reminded_at set by a conditional UPDATE). Times are ISO 8601 text
-- and days YYYY-MM-DD, like the rest of the mailbox; "C" collation so that they compare as written.

CREATE TABLE answer_case (
  message_id text COLLATE "C" PRIMARY KEY,
  message_type text NOT NULL,
  sender_system text NOT NULL,
  receiver_system text NOT NULL,
  land text NOT NULL,
  contract text NOT NULL,
  working_days integer NOT NULL,
  answered_by text NOT NULL,
  delivered_at text COLLATE "C" NOT NULL,
  deadline text COLLATE "C" NOT NULL,
  answered_at text,
  answer_id text,
  reminded_at text
);
CREATE INDEX answer_case_open ON answer_case (deadline) WHERE answered_at IS NULL;

CREATE TABLE case_answer (
  referenz_id text COLLATE "C" NOT NULL,
  answer_id text COLLATE "C" NOT NULL,
  answer_type text NOT NULL,
  answered_at text COLLATE "C" NOT NULL,
  PRIMARY KEY (referenz_id, answer_id)
);
