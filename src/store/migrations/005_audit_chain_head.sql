-- The audit chain's head in a row of its own. Sealing events reads it with SELECT … FOR UPDATE:
-- one statement both takes the chain's turn (the row lock, held until commit, serialising every
-- writer in every process as the advisory lock did) and returns the head as the previous holder
-- committed it. The advisory lock needed a second statement to read the head after the lock.
-- It also records where the chain ends, so removing its newest events is seen by the verifier.
CREATE TABLE audit_chain_head (
  only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  seq       bigint NOT NULL,
  hash      text NOT NULL
);
-- Appends by a process of an earlier version (under the advisory lock) finish before the head is copied.
SELECT pg_advisory_xact_lock(7412, hashtext(current_schema()));
INSERT INTO audit_chain_head (seq, hash)
SELECT COALESCE((SELECT seq FROM audit_events ORDER BY seq DESC LIMIT 1), 0),
       COALESCE((SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1), repeat('0', 64));
