-- Projections by name: every read model built from `sync_records` keeps its own cursor per
-- (venue, epoch), so a new one (tournaments, ratings, …) starts from the first record and folds
-- at its own pace without touching the others'. The cursors so far were the projection of
-- matches, racks and statistics, named 'matches'.
ALTER TABLE sync_projections ADD COLUMN projection text NOT NULL DEFAULT 'matches';
ALTER TABLE sync_projections ALTER COLUMN projection DROP DEFAULT;
ALTER TABLE sync_projections DROP CONSTRAINT sync_projections_pkey;
ALTER TABLE sync_projections ADD PRIMARY KEY (projection, venue_id, epoch);
-- The cursors of one (venue, epoch), whatever the projection: the lag sum joins on these, and
-- deleting a sync cursor cascades along them.
CREATE INDEX sync_projections_venue_epoch ON sync_projections (venue_id, epoch);
