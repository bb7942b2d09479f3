-- Schools' D03-TS lists of pupils and students joining health insurance (docs/API.md, "Pupils' and
-- students' lists"). A list is checked row by row as it arrives and kept with every row, so a school
-- reads back what is wrong, corrects it and sends the list on.

CREATE TABLE pupil_lists (
  list_id          text PRIMARY KEY,
  -- The upload's idempotency: the same key from the same client is the same list.
  client_id        text NOT NULL,
  idempotency_key  text NOT NULL,
  content_sha256   text NOT NULL,
  -- The first answer, given again to a repeated upload.
  answer           jsonb NOT NULL,
  ma_tinh          text NOT NULL,
  ma_don_vi        text NOT NULL,
  ten_don_vi       text,
  ky_ke_khai       text NOT NULL,
  format           text NOT NULL,
  -- replaced: a later upload took its place (replaced_by); its rows no longer count as listed.
  status           text NOT NULL CHECK (status IN ('checked', 'queued', 'replaced')),
  replaced_by      text REFERENCES pupil_lists,
  row_count        integer NOT NULL,
  valid_count      integer NOT NULL,
  invalid_count    integer NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (client_id, idempotency_key)
);
CREATE INDEX pupil_lists_by_unit ON pupil_lists (ma_don_vi, created_at);

-- One row per person, in file order (position): two rows may share an STT until the school fixes it.
CREATE TABLE pupil_list_rows (
  list_id        text NOT NULL REFERENCES pupil_lists ON DELETE CASCADE,
  position       integer NOT NULL,
  stt            integer NOT NULL,
  status         text NOT NULL CHECK (status IN ('invalid', 'queued')),
  -- The row as checked (normalised text); personal data, read back only by the school and its province.
  row            jsonb NOT NULL,
  -- Values the file reader could not take; kept until the row is corrected.
  read_problems  jsonb NOT NULL DEFAULT '[]',
  problems       jsonb NOT NULL DEFAULT '[]',
  warnings       jsonb NOT NULL DEFAULT '[]',
  card_from      date,
  card_to        date,
  -- Copied from the list and the row so another list of the period finds the person by one index probe.
  ky_ke_khai     text NOT NULL,
  so_dinh_danh   text,
  ma_so_bhxh     text,
  PRIMARY KEY (list_id, position)
);
CREATE INDEX pupil_list_rows_by_personal_number ON pupil_list_rows (ky_ke_khai, so_dinh_danh) WHERE so_dinh_danh IS NOT NULL AND status <> 'invalid';
CREATE INDEX pupil_list_rows_by_bhxh_number ON pupil_list_rows (ky_ke_khai, ma_so_bhxh) WHERE ma_so_bhxh IS NOT NULL AND status <> 'invalid';
