-- Card re-issue and change (docs/DOMAIN.md, "Card re-issue and change"): CAP_LAI_THE transfers and
-- batches. Migration 012 (D03-TS) recreates these two CHECKs as well; each lists every type, so the
-- two hold whichever lands first.
ALTER TABLE transfers DROP CONSTRAINT transfers_type_check;
ALTER TABLE transfers ADD CONSTRAINT transfers_type_check
  CHECK (type IN ('KHAI_SINH', 'KHAI_TU', 'HO_SO_MOT_CUA', 'D03_TS', 'CAP_LAI_THE'));
ALTER TABLE batches DROP CONSTRAINT batches_loai_check;
ALTER TABLE batches ADD CONSTRAINT batches_loai_check
  CHECK (loai IN ('CAP_THE_TE', 'BAO_GIAM', 'D03_TS', 'CAP_LAI_THE'));

-- What a request is for, where its type has kinds that different roles may see (a re-issue's lyDo),
-- and the day by whose end it is due, where its type has a deadline of its own (a re-issue's hanTra):
-- the backlog counts such a record against that day rather than the deadline from registration.
-- due_on is YYYY-MM-DD text, compared as text (ISO order is date order): pg and PGlite would hand a
-- `date` back as a Date at different midnights (local and UTC), so one day could read as another.
ALTER TABLE transfers ADD COLUMN reason text;
ALTER TABLE transfers ADD COLUMN due_on text CHECK (due_on ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$');

-- A re-issue may name its person by BHXH number alone: an open request, or a registered death, is
-- found by it too.
CREATE INDEX transfers_reissue_by_bhxh_number ON transfers ((document->'nguoi'->>'maSoBhxh'), reason)
  WHERE type = 'CAP_LAI_THE';
CREATE INDEX transfers_death_by_bhxh_number ON transfers ((document->'hoTich'->>'nktMaSoBHXH'))
  WHERE type = 'KHAI_TU';
