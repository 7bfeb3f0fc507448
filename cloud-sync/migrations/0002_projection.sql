-- The projection cursor: matches, racks and per-player statistics are built from `sync_records` by
-- a background projector, after the batch is acknowledged. Records 1..projected of (venue, epoch)
-- are folded in; the projector advances `projected` in the transaction that writes their effects,
-- so a crash between the acknowledgement and the projection only delays it.
CREATE TABLE sync_projections (
    venue_id   text NOT NULL,
    epoch      text NOT NULL,
    projected  bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (venue_id, epoch),
    FOREIGN KEY (venue_id, epoch) REFERENCES sync_cursors (venue_id, epoch) ON DELETE CASCADE
);

-- Before this migration every stored record was folded in the transaction that stored it.
INSERT INTO sync_projections (venue_id, epoch, projected)
SELECT venue_id, epoch, high_water FROM sync_cursors;
