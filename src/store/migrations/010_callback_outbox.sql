-- Callbacks through an outbox (docs/API.md, "Callbacks"). Before this, each registry client had a
-- cursor into the audit log, and every tick re-read every later audit event to find its changes.

-- The registry clients that asked for callbacks, as the clients file of the latest gateway to start
-- says (src/dispatch/callbacks.ts keeps it so): the trigger below reads it on every audit insert.
CREATE TABLE callback_subscriptions (
  client_id      text PRIMARY KEY,
  subscribed_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per callback still to be delivered; a delivered one is deleted, so the table holds only the
-- backlog. Keyed by the audit event it announces: that seq is the callback's eventId, stable across
-- retries. Its order is the order the changes committed, since events are sealed one transaction at
-- a time under the chain head's lock: a lower seq never becomes visible after a higher one.
CREATE TABLE callback_outbox (
  audit_seq        bigint PRIMARY KEY,
  client_id        text NOT NULL,
  transfer_id      text NOT NULL,
  attempts         integer NOT NULL DEFAULT 0,
  -- Due from then. While a process posts it, its lease: when that process dies, another takes over.
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  last_attempt_at  timestamptz,
  last_error       text,
  -- The process that claimed it, so a process whose lease was taken over stops instead of going on.
  lease_holder     text
);
-- A client's callbacks leave in order, so only its oldest row decides whether it is due: one probe
-- per subscribing client, whatever the size of the audit log.
CREATE INDEX callback_outbox_by_client ON callback_outbox (client_id, audit_seq);
-- Operators list failing callbacks: only the head of a client's backlog can fail, so this stays small.
CREATE INDEX callback_outbox_failing ON callback_outbox (audit_seq) WHERE attempts > 0;

-- Writes the outbox row in the transaction that changed the status: the audit event of every change is
-- inserted just before its COMMIT (src/store/audit-log.ts), so the callback exists if and only if
-- the change does. One statement per insert, not per row: dispatch seals hundreds of events at once.
CREATE FUNCTION callback_outbox_collect() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  -- Without any subscriber (the usual case) this is the whole cost: one probe of an empty table.
  IF NOT EXISTS (SELECT FROM callback_subscriptions) THEN
    RETURN NULL;
  END IF;
  INSERT INTO callback_outbox (audit_seq, client_id, transfer_id)
  SELECT e.seq, t.client_id, e.transfer_id
    FROM new_events e
    JOIN transfers t ON t.id = e.transfer_id
    JOIN callback_subscriptions s ON s.client_id = t.client_id
   WHERE e.to_status IS NOT NULL AND e.from_status IS DISTINCT FROM e.to_status;
  RETURN NULL;
END
$$;
CREATE TRIGGER audit_events_to_callback_outbox AFTER INSERT ON audit_events
  REFERENCING NEW TABLE AS new_events
  FOR EACH STATEMENT EXECUTE FUNCTION callback_outbox_collect();

-- A database that used the cursors: every client that had one keeps its subscription and its backlog
-- (what the cursor had not yet passed), so nothing the earlier version owed is dropped. A client new to
-- callbacks starts from now: the trigger sees only changes after its subscription, never history.
-- The chain's lock first, so no event commits between the backlog copied here and the trigger taking
-- over; then the cursors', so a callback an older process is posting right now finishes and moves
-- its cursor before the backlog is read.
SELECT 1 FROM audit_chain_head FOR UPDATE;
LOCK TABLE callback_cursors IN ACCESS EXCLUSIVE MODE;
INSERT INTO callback_subscriptions (client_id) SELECT client_id FROM callback_cursors;
INSERT INTO callback_outbox (audit_seq, client_id, transfer_id)
SELECT e.seq, t.client_id, e.transfer_id
  FROM callback_cursors c
  JOIN transfers t ON t.client_id = c.client_id
  JOIN audit_events e ON e.transfer_id = t.id AND e.seq > c.last_seq
 WHERE e.to_status IS NOT NULL AND e.from_status IS DISTINCT FROM e.to_status;
-- An older process still running finds no cursors and delivers nothing: the new ones deliver.
DROP TABLE callback_cursors;
