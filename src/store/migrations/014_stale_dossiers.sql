-- Stale one-stop dossiers (docs/DOMAIN.md, "One-stop dossiers"): a dossier that never finds its birth.
-- closed: an operator closed it with a reason; no record will absorb it any more.
ALTER TABLE transfers DROP CONSTRAINT transfers_status_check;
ALTER TABLE transfers ADD CONSTRAINT transfers_status_check
  CHECK (status IN ('received', 'queued', 'sending', 'sent', 'issued', 'processed', 'returned', 'failed', 'deceased', 'merged', 'closed'));
-- After the retention period a waiting or closed dossier's files lose their bytes; the row keeps what
-- was there (type, title, file name, size, hash) and when it went.
ALTER TABLE attachments ALTER COLUMN content DROP NOT NULL;
ALTER TABLE attachments ADD COLUMN purged_at timestamptz;
ALTER TABLE attachments ADD CONSTRAINT attachments_content_or_purged CHECK ((content IS NULL) = (purged_at IS NOT NULL));
-- The dossiers no record absorbed: few, listed to operators and swept for purging by age.
CREATE INDEX transfers_unabsorbed_dossiers ON transfers (created_at) WHERE type = 'HO_SO_MOT_CUA' AND status IN ('received', 'closed');
