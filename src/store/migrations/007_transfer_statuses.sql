-- Exactly the statuses of the table in src/domain/transfer-status.ts; tests/transfer-status.test.ts
-- reads this constraint back and fails when the two differ. A new status changes both.
ALTER TABLE transfers DROP CONSTRAINT transfers_status_check;
ALTER TABLE transfers ADD CONSTRAINT transfers_status_check
  CHECK (status IN ('received', 'queued', 'sent', 'issued', 'processed', 'returned', 'failed', 'deceased', 'merged'));
