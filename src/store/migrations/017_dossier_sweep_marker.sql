-- The retention sweep (src/messages/dossier/stale.ts) marks each dossier it has been past, so it walks
-- only dossiers not yet swept: without the mark every purged or fileless dossier was walked again on
-- every sweep, forever.
ALTER TABLE transfers ADD COLUMN files_swept_at timestamptz;
CREATE INDEX transfers_dossiers_to_sweep ON transfers (created_at)
  WHERE type = 'HO_SO_MOT_CUA' AND status IN ('received', 'closed') AND files_swept_at IS NULL;
-- Closed dossiers already purged before the mark existed: swept, none of their files left to purge.
-- Waiting ones stay unmarked: the next sweep closes them, audited, as it now closes every dossier it purges.
UPDATE transfers t SET files_swept_at = now()
 WHERE t.type = 'HO_SO_MOT_CUA' AND t.status = 'closed'
   AND EXISTS (SELECT 1 FROM attachments a WHERE a.transfer_id = t.id)
   AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.transfer_id = t.id AND a.purged_at IS NULL);
