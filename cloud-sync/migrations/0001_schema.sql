-- cloud-sync's schema: the venues and their keys, the sync log (every record a venue sent, keyed by
-- venue, epoch and seq), the matches, racks and statistics applied from it, and the registered
-- players with the change log venues pull.

CREATE TABLE venues (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Only the SHA-256 of a key is stored: a leaked table cannot be replayed as credentials.
CREATE TABLE venue_keys (
    key_hash   bytea PRIMARY KEY,
    venue_id   text NOT NULL REFERENCES venues (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX venue_keys_venue ON venue_keys (venue_id);

-- A venue's tables, as its records name them.
CREATE TABLE venue_tables (
    venue_id   text NOT NULL REFERENCES venues (id) ON DELETE CASCADE,
    table_id   text NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (venue_id, table_id)
);

-- The high-water mark per edge database: records 1..high_water of (venue, epoch) are stored.
CREATE TABLE sync_cursors (
    venue_id   text NOT NULL REFERENCES venues (id) ON DELETE CASCADE,
    epoch      text NOT NULL,
    high_water bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (venue_id, epoch)
);

-- Every record as the venue sent it: the idempotency key and the content hash that tells a retry
-- (same hash) from a conflict (different hash).
CREATE TABLE sync_records (
    venue_id     text NOT NULL,
    epoch        text NOT NULL,
    seq          bigint NOT NULL,
    kind         text NOT NULL,
    match_id     text NOT NULL,
    content_hash bytea NOT NULL,
    payload      jsonb NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (venue_id, epoch, seq)
);

-- A known key sent again with different content: kept aside for staff, never applied.
CREATE TABLE sync_conflicts (
    id           bigserial PRIMARY KEY,
    venue_id     text NOT NULL,
    epoch        text NOT NULL,
    seq          bigint NOT NULL,
    kind         text NOT NULL,
    match_id     text NOT NULL,
    content_hash bytea NOT NULL,
    payload      jsonb NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sync_conflicts_key ON sync_conflicts (venue_id, epoch, seq);

-- Matches keep the venue's ids (venue_id, venue_match_id) so every row traces back to its records.
-- Every column but the keys may be unknown: a rack can arrive for a match whose start was refused.
CREATE TABLE matches (
    id             bigserial PRIMARY KEY,
    venue_id       text NOT NULL REFERENCES venues (id) ON DELETE CASCADE,
    venue_match_id text NOT NULL,
    table_id       text,
    game           text,
    players        text[],
    player_ids     text[],
    race_to        integer,
    spec           jsonb,
    started_ms     bigint,
    winner         smallint,
    score          integer[],
    finished       boolean NOT NULL DEFAULT false,
    finished_at    timestamptz,
    -- The match_finished record (its `inputs` are read from there, not copied).
    result_epoch   text,
    result_seq     bigint,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (venue_id, venue_match_id)
);
-- A venue's matches, newest first (keyset on id).
CREATE INDEX matches_venue ON matches (venue_id, id DESC);

-- A rack's statistics and shot log are kept once, in the rack_finished record that carried them
-- (`sync_records.payload`, found by the venue's key): copying them here would double the bytes
-- every sync writes, for nothing the reads need.
CREATE TABLE racks (
    match_id bigint NOT NULL REFERENCES matches (id) ON DELETE CASCADE,
    ordinal  integer NOT NULL,
    rack     integer NOT NULL,
    winner   smallint NOT NULL,
    score    integer[] NOT NULL,
    epoch    text NOT NULL,
    seq      bigint NOT NULL,
    PRIMARY KEY (match_id, ordinal)
);

-- Per seat per match: the latest statistics the venue sent, and the registered player, if any.
CREATE TABLE match_player_stats (
    match_id         bigint NOT NULL REFERENCES matches (id) ON DELETE CASCADE,
    seat             smallint NOT NULL,
    player_id        text,
    player_name      text,
    racks_won        integer NOT NULL DEFAULT 0,
    balls_pocketed   integer NOT NULL DEFAULT 0,
    fouls            integer NOT NULL DEFAULT 0,
    break_and_runs   integer NOT NULL DEFAULT 0,
    breaks_with_ball integer NOT NULL DEFAULT 0,
    safeties         integer NOT NULL DEFAULT 0,
    innings          integer NOT NULL DEFAULT 0,
    high_run         integer NOT NULL DEFAULT 0,
    PRIMARY KEY (match_id, seat)
);
-- A player's history, newest first, and their statistics.
CREATE INDEX match_player_stats_player ON match_player_stats (player_id, match_id DESC)
    WHERE player_id IS NOT NULL;

CREATE TABLE players (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    rating     integer,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The change log venues pull. Writers take an advisory lock first, so versions commit in order and
-- a reader can never skip a version that commits late.
CREATE TABLE player_changes (
    version    bigserial PRIMARY KEY,
    op         text NOT NULL CHECK (op IN ('upsert', 'delete')),
    player_id  text NOT NULL,
    name       text,
    rating     integer,
    changed_at timestamptz NOT NULL DEFAULT now()
);

-- Versions at or below `floor` may have been compacted away: a cursor below it gets 410.
CREATE TABLE player_log (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    floor    bigint NOT NULL DEFAULT 0
);
INSERT INTO player_log DEFAULT VALUES;
