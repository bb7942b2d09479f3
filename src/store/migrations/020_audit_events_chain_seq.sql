-- The events feed answers a numeric `after` (a seq, as before chains) with a cursor of every chain's
-- place: per chain, the newest event whose seq is at most that number. seq increases along a chain,
-- so this index finds it in one descent per chain, however far behind the reader is.
CREATE INDEX audit_events_chain_seq ON audit_events (chain_id, seq);
