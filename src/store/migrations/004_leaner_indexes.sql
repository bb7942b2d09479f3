-- Every index is paid for on every birth stored; keep only those a query needs (bench/README.md).
-- Claims read (status, ma_tinh, id) from transfers_by_status; the partial copy was redundant.
DROP INDEX transfers_queued;
-- Births and deaths are found by person through their unique partial indexes; only dossiers needed more.
DROP INDEX transfers_by_person;
CREATE INDEX transfers_dossiers_by_person ON transfers (so_dinh_danh) WHERE type = 'HO_SO_MOT_CUA';
-- The chain itself proves each hash; a unique index on them only cost a B-tree insert per event.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_hash_key;
