-- A card request's BHXH number as a column (docs/DOMAIN.md, "Card re-issue and change"): the one it
-- gives, else the one its old card ends with, else the one the gateway knows for its personal number.
-- A request, a death or the dispatcher's holds find the person by it as by the personal number.
ALTER TABLE transfers ADD COLUMN ma_so_bhxh text CHECK (ma_so_bhxh ~ '^[0-9]{10}$');
UPDATE transfers SET ma_so_bhxh = coalesce(document->'nguoi'->>'maSoBhxh', right(document->>'maThe', 10))
 WHERE type = 'CAP_LAI_THE';
DROP INDEX transfers_reissue_by_bhxh_number;
CREATE INDEX transfers_card_request_by_bhxh_number ON transfers (ma_so_bhxh) WHERE type = 'CAP_LAI_THE';
CREATE INDEX transfers_card_request_by_person ON transfers (so_dinh_danh) WHERE type = 'CAP_LAI_THE';
-- The BHXH number of an issued card: how a request by BHXH number alone learns the personal number
-- from a birth's card.
CREATE INDEX transfers_issued_card_by_bhxh_number ON transfers ((card->>'maSoBHXH')) WHERE status = 'issued';

-- At most one open request per person and reason group: a lost and a damaged card are one group (either
-- would print the person a new card), a change of information its own. Open: in no final status. The
-- intake and PATCH check this first under the person's locks; these indexes settle what slips past
-- them (two requests naming the person by different numbers at the same moment). Until now a lost and
-- a damaged card's requests could both be open: a database holding such a pair stops this migration on
-- the index's name, and one of the two must be settled first (re-issues land in the same release as 013).
CREATE UNIQUE INDEX transfers_one_open_card_request_per_person
    ON transfers (so_dinh_danh, (CASE WHEN reason IN ('mat', 'hong') THEN 'mat_hong' ELSE reason END))
 WHERE type = 'CAP_LAI_THE' AND so_dinh_danh <> '' AND status NOT IN ('issued', 'processed', 'deceased', 'merged', 'closed');
CREATE UNIQUE INDEX transfers_one_open_card_request_per_bhxh_number
    ON transfers (ma_so_bhxh, (CASE WHEN reason IN ('mat', 'hong') THEN 'mat_hong' ELSE reason END))
 WHERE type = 'CAP_LAI_THE' AND ma_so_bhxh IS NOT NULL AND status NOT IN ('issued', 'processed', 'deceased', 'merged', 'closed');
