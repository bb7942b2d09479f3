-- Several audit chains instead of one (docs/RELIABILITY.md, "Audit log"). With one head row, every
-- writer in every process waited for the one before it from its seal until its COMMIT. Now a
-- sealing transaction takes whichever chain row no one holds (FOR UPDATE SKIP LOCKED): the row lock
-- is its turn on that chain until commit, as the single head's was, and dies with its session, so a
-- crashed writer leaves nothing to lease back. Signed checkpoints tie the chains together.

-- No event commits while the single chain is carried over.
SELECT 1 FROM audit_chain_head FOR UPDATE;

-- Chain 0 is the single chain as it stood: closed, never appended to again. Its events keep their
-- seq as their place in it (chain_seq NULL), so no row of the append-only log is rewritten.
CREATE TABLE audit_chains (
  chain_id   integer PRIMARY KEY CHECK (chain_id >= 0),
  -- The place in its chain of the chain's newest event (0: none yet) and that event's hash.
  head_seq   bigint NOT NULL,
  head_hash  text NOT NULL
);
INSERT INTO audit_chains (chain_id, head_seq, head_hash) SELECT 0, seq, hash FROM audit_chain_head;
-- Sixteen open chains: more than the writers that seal at the same moment in a few processes (a
-- seal is the last few milliseconds of a transaction), and a checkpoint is one row per chain.
INSERT INTO audit_chains (chain_id, head_seq, head_hash) SELECT n, 0, repeat('0', 64) FROM generate_series(1, 16) AS n;
DROP TABLE audit_chain_head;

-- An event's seq stays its unique id (a callback's eventId), now drawn from a sequence: unique and
-- increasing along each chain and along each transfer's events (a transfer's changes take its row
-- lock, so the next one seals after the previous committed), but no longer in commit order overall.
CREATE SEQUENCE audit_event_ids;
SELECT setval('audit_event_ids', GREATEST(head_seq, 1), head_seq > 0) FROM audit_chains WHERE chain_id = 0;

ALTER TABLE audit_events ADD COLUMN chain_id integer NOT NULL DEFAULT 0;
ALTER TABLE audit_events ALTER COLUMN chain_id DROP DEFAULT;
ALTER TABLE audit_events ADD COLUMN chain_seq bigint;
-- Each chain read in order (verification, the events feed's cursor), one place per event.
CREATE UNIQUE INDEX audit_events_chain_place ON audit_events (chain_id, (COALESCE(chain_seq, seq)));

-- Signed checkpoints (src/audit/checkpoints.ts): `body` is the exact canonical JSON that was signed,
-- so it is verified as stored; the same lines go to AUDIT_CHECKPOINT_DIR outside the database.
CREATE TABLE audit_checkpoints (
  number     bigint PRIMARY KEY,
  at         timestamptz NOT NULL,
  body       text NOT NULL,
  signature  text NOT NULL
);
CREATE FUNCTION audit_checkpoints_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_checkpoints is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoints_refuse_change();
