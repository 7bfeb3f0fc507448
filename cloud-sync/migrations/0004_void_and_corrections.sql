-- Staff at a venue can void a match (it ends with no winner and counts for nobody, unlike a
-- concession) and correct a score with a reason. A voided match stays listed, marked, with why,
-- by whom and when; statistics leave it out. Corrections are read, with who and why, from the
-- records that carried them: the index finds a match's corrections without scanning the venue's.

ALTER TABLE matches
    ADD COLUMN voided      boolean NOT NULL DEFAULT false,
    ADD COLUMN void_reason text,
    ADD COLUMN voided_by   jsonb,
    ADD COLUMN voided_ms   bigint;

CREATE INDEX sync_records_corrections ON sync_records (venue_id, match_id, received_at, seq)
    WHERE kind IN ('result_corrected', 'match_voided');
