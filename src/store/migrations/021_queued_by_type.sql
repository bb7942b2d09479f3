-- The waiting records of one type, oldest first. A type's last gate before a claim (retiring the
-- card requests or cards of the deceased) and the claim's batch query each walk "queued, of this
-- type, in id order"; along transfers_queued_by_age alone that walk passes every waiting record of
-- every other type, so with 50,000 births waiting and no card request, each claim's look for card
-- requests read all 50,000 (about 12 µs of PostgreSQL's CPU per dispatched record, docs/PERFORMANCE.md).
-- Entries exist only while a record waits, as in transfers_queued_by_age.
CREATE INDEX transfers_queued_by_type ON transfers (type, id) WHERE status = 'queued';
