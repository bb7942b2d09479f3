-- `sending`: in a pushed batch BHXH has not yet acknowledged (src/domain/transfer-status.ts), and
-- `released`: a pushed batch that provably never reached BHXH, its records back in `queued`.
ALTER TABLE transfers DROP CONSTRAINT transfers_status_check;
ALTER TABLE transfers ADD CONSTRAINT transfers_status_check
  CHECK (status IN ('received', 'queued', 'sending', 'sent', 'issued', 'processed', 'returned', 'failed', 'deceased', 'merged'));
ALTER TABLE batches DROP CONSTRAINT batches_status_check;
ALTER TABLE batches ADD CONSTRAINT batches_status_check
  CHECK (status IN ('open', 'delivered', 'closed', 'failed', 'expired', 'released'));
-- When a push of the batch first began: from then on BHXH may hold it, so its records may never be
-- released to another batch, even if a later push finds BHXH's port closed.
ALTER TABLE batches ADD COLUMN push_started_at timestamptz;
-- A pushed batch still open from before this version may have been pushed already: never released.
-- Its records stay `sent` (they were claimed so); if it fails, they fail with it (batch-closing.ts).
UPDATE batches SET push_started_at = created_at WHERE mode = 'push' AND status = 'open';
-- The dispatcher counts the pushed batches BHXH has not acknowledged before it claims more.
CREATE INDEX batches_open_push ON batches (id) WHERE status = 'open' AND mode = 'push';
-- A claim now takes one batch at a time (each acknowledgement claims the next), oldest first. In id
-- order over the primary key it walked past every record claimed before it, still in the table, so
-- each claim cost more than the last; this index holds only what waits (docs/PERFORMANCE.md).
CREATE INDEX transfers_queued_by_age ON transfers (id) WHERE status = 'queued';
