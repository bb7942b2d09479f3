-- Deaths and one-stop-shop dossiers (docs/DOMAIN.md, "Deaths" and "One-stop dossiers").

-- deceased: a card transfer that will not be sent because its person's death is registered.
-- merged: a one-stop dossier whose data went into the birth (or death) it belongs to.
ALTER TABLE transfers DROP CONSTRAINT transfers_status_check;
ALTER TABLE transfers ADD CONSTRAINT transfers_status_check
  CHECK (status IN ('received', 'queued', 'sent', 'issued', 'processed', 'returned', 'failed', 'deceased', 'merged'));

-- One death per person, as one birth per person.
CREATE UNIQUE INDEX transfers_one_death_per_person ON transfers (so_dinh_danh) WHERE type = 'KHAI_TU';
CREATE INDEX transfers_by_person ON transfers (so_dinh_danh, type);

-- The one-stop-shop dossier code: a birth's maHoSoMCDT, or a waiting dossier's own maHoSo.
ALTER TABLE transfers ADD COLUMN ma_ho_so text;
CREATE INDEX transfers_by_dossier ON transfers (ma_ho_so) WHERE ma_ho_so IS NOT NULL;

-- Files attached to dossiers (e.g. the electronic birth certificate); BHXH documents cite their hash.
CREATE TABLE attachments (
  transfer_id  text NOT NULL REFERENCES transfers (id),
  sha256       text NOT NULL,
  loai         text NOT NULL,
  ten          text NOT NULL,
  file_name    text NOT NULL,
  size_bytes   integer NOT NULL,
  content      bytea NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (transfer_id, sha256)
);
