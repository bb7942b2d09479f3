-- Dispatch: batches sent to (push) or leased by (pull) BHXH, their members, and every delivery attempt.

-- The one batch a `sent` transfer is in; a single column, so no record can be in two open batches.
ALTER TABLE transfers ADD COLUMN batch_id text;
CREATE INDEX transfers_by_batch ON transfers (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX transfers_queued ON transfers (ma_tinh, type, id) WHERE status = 'queued';

CREATE TABLE batches (
  id                text PRIMARY KEY,
  ma_tinh           text NOT NULL,
  loai              text NOT NULL CHECK (loai IN ('CAP_THE_TE', 'BAO_GIAM')),
  mode              text NOT NULL CHECK (mode IN ('push', 'pull')),
  -- open: recorded, not yet answered (push resends it as it is); delivered: BHXH has it, results may
  -- still come; closed: every member answered; failed: could not be delivered; expired: lease ran out.
  status            text NOT NULL CHECK (status IN ('open', 'delivered', 'closed', 'failed', 'expired')),
  record_count      integer NOT NULL,
  attempts          integer NOT NULL DEFAULT 0,
  leased_by         text,
  lease_expires_at  timestamptz,
  last_error        text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  delivered_at      timestamptz,
  closed_at         timestamptz
);
CREATE INDEX batches_by_status ON batches (status, mode);

CREATE TABLE batch_members (
  batch_id     text NOT NULL REFERENCES batches (id),
  transfer_id  text NOT NULL REFERENCES transfers (id),
  position     integer NOT NULL,
  -- issued, processed, returned, failed, expired; null while BHXH has not answered for it.
  outcome      text,
  PRIMARY KEY (batch_id, transfer_id)
);
CREATE INDEX batch_members_by_transfer ON batch_members (transfer_id);

CREATE TABLE delivery_attempts (
  id           bigserial PRIMARY KEY,
  batch_id     text NOT NULL REFERENCES batches (id),
  attempt      integer NOT NULL,
  worker       text NOT NULL,
  started_at   timestamptz NOT NULL,
  finished_at  timestamptz NOT NULL,
  outcome      text NOT NULL CHECK (outcome IN ('answered', 'transient', 'permanent')),
  http_status  integer,
  error        text
);
CREATE INDEX delivery_attempts_by_batch ON delivery_attempts (batch_id, id);

-- Provinces whose deliveries an operator has held; '*' holds all.
CREATE TABLE dispatch_pauses (
  ma_tinh    text PRIMARY KEY,
  paused_by  text NOT NULL,
  paused_at  timestamptz NOT NULL DEFAULT now()
);

-- How far each registry client's callbacks have got through the audit log, and its backoff.
CREATE TABLE callback_cursors (
  client_id        text PRIMARY KEY,
  last_seq         bigint NOT NULL DEFAULT 0,
  failures         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  last_error       text
);

CREATE TABLE replay_jobs (
  id            text PRIMARY KEY,
  requested_by  text NOT NULL,
  reason        text NOT NULL,
  filter        jsonb NOT NULL,
  matched       integer NOT NULL,
  replayed      integer NOT NULL DEFAULT 0,
  skipped       integer NOT NULL DEFAULT 0,
  status        text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
  transfer_ids  jsonb NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz
);
