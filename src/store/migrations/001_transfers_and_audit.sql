-- One row per transfer: a hộ tịch message on its way to BHXH. `status` is the current state; every
-- change of it is written together with an audit_events row in one transaction (src/store/transfers.ts).
CREATE TABLE transfers (
  id             text PRIMARY KEY,
  type           text NOT NULL CHECK (type IN ('KHAI_SINH', 'KHAI_TU', 'HO_SO_MOT_CUA')),
  client_id      text NOT NULL,
  message_id     text NOT NULL,
  status         text NOT NULL CHECK (status IN ('received', 'queued', 'sent', 'issued', 'processed', 'returned', 'failed')),
  ma_tinh        text NOT NULL,
  ma_don_vi      text NOT NULL,
  so_dinh_danh   text NOT NULL,
  document       jsonb NOT NULL,
  missing        jsonb NOT NULL DEFAULT '[]',
  bhxh_document  jsonb,
  bhxh_errors    jsonb,
  card           jsonb,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);

-- One person, one number: the database, not a read-then-write race, refuses a second birth.
CREATE UNIQUE INDEX transfers_one_birth_per_person ON transfers (so_dinh_danh) WHERE type = 'KHAI_SINH';
CREATE INDEX transfers_by_status ON transfers (status, ma_tinh, id);
CREATE INDEX transfers_by_client ON transfers (client_id, id);

-- Idempotency: what each (client, messageId) was first answered, and a hash of its content. Written
-- before its transfer (the key is deferred), so a concurrent twin waits here and then reads the answer.
CREATE TABLE inbound_messages (
  client_id       text NOT NULL,
  message_id      text NOT NULL,
  message_type    text NOT NULL,
  content_sha256  text NOT NULL,
  transfer_id     text NOT NULL REFERENCES transfers (id) DEFERRABLE INITIALLY DEFERRED,
  response        jsonb NOT NULL,
  received_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (client_id, message_id)
);

-- The audit log: a hash chain, each row's hash covering the previous hash and the row itself.
CREATE TABLE audit_events (
  seq             bigint PRIMARY KEY,
  at              timestamptz NOT NULL,
  actor           text NOT NULL,
  action          text NOT NULL,
  transfer_id     text,
  from_status     text,
  to_status       text,
  payload_sha256  text,
  details         jsonb,
  prev_hash       text NOT NULL,
  hash            text NOT NULL UNIQUE
);
CREATE INDEX audit_events_by_transfer ON audit_events (transfer_id, seq);

CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
