-- The events feed answers a numeric `after` (a seq, as before chains) with a cursor of every chain's
-- place: per chain, the newest event whose seq is at most that number. seq increases along a chain,
-- so this index finds it in one descent per chain, however far behind the reader is.
CREATE INDEX audit_events_chain_seq ON audit_events (chain_id, seq);

-- This audit log's own name, made once: dev mode keeps its checkpoint copies under it, so a database
-- made afresh beside an old checkpoint directory starts a folder of its own instead of being taken
-- for one whose checkpoints were removed.
CREATE TABLE audit_log_instance (
  id  text PRIMARY KEY
);
INSERT INTO audit_log_instance (id) VALUES (gen_random_uuid()::text);
