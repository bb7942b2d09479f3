-- Pupils' and students' lists go to BHXH (docs/API.md, "Pupils' and students' lists"): each row to
-- send is a transfer of type D03_TS, batched as BHXH's D03_TS document, one list per batch at most.
-- Migration 013 (card re-issues) recreates the two CHECKs as well; each lists every type, so they hold
-- whichever of the two a database applied first.
ALTER TABLE transfers DROP CONSTRAINT transfers_type_check;
ALTER TABLE transfers ADD CONSTRAINT transfers_type_check
  CHECK (type IN ('KHAI_SINH', 'KHAI_TU', 'HO_SO_MOT_CUA', 'D03_TS', 'CAP_LAI_THE'));
ALTER TABLE batches DROP CONSTRAINT batches_loai_check;
ALTER TABLE batches ADD CONSTRAINT batches_loai_check
  CHECK (loai IN ('CAP_THE_TE', 'BAO_GIAM', 'D03_TS', 'CAP_LAI_THE'));
-- What the batch's records share beyond province and type (a list's id for D03_TS): the claim never
-- mixes two groups, and the batch's body is headed by what the group says (the unit and period).
ALTER TABLE batches ADD COLUMN group_key text;
-- The transfer that carries the row to BHXH, once the row is sent; a row taken over unchanged by a
-- list that replaces its own shares its transfer, so BHXH never receives the same person twice.
ALTER TABLE pupil_list_rows ADD COLUMN transfer_id text REFERENCES transfers (id);
CREATE INDEX pupil_list_rows_by_transfer ON pupil_list_rows (transfer_id) WHERE transfer_id IS NOT NULL;
