-- Tournaments (issue 18, online part; docs/tournaments.md "Online"). Ownership is explicit: the
-- cloud owns a tournament's registration until the venue starts it; from the venue's
-- `tournament_started` record on, the venue owns the bracket and the cloud only mirrors it from the
-- synced records (`tournament_entries`, replayed through `shared::bracket`). No result ever has two
-- writers: nothing in the cloud writes an entry.

CREATE TABLE tournaments (
    id                      text PRIMARY KEY,
    venue_id                text NOT NULL REFERENCES venues (id) ON DELETE CASCADE,
    name                    text NOT NULL,
    -- `shared::bracket::Format` (kebab-case) and `Options` as JSON.
    format                  text NOT NULL,
    options                 jsonb NOT NULL DEFAULT '{}',
    starts_at               timestamptz NOT NULL,
    registration_opens_at   timestamptz,
    registration_closes_at  timestamptz,
    check_in_opens_at       timestamptz,
    -- Players were told check-in is open (by hand or when `check_in_opens_at` passed).
    check_in_opened_at      timestamptz,
    cap                     integer CHECK (cap IS NULL OR cap > 0),
    public                  boolean NOT NULL DEFAULT true,
    -- 'cloud': created online; 'venue': first heard of in a venue's `tournament_started`.
    origin                  text NOT NULL CHECK (origin IN ('cloud', 'venue')),
    created_by              text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    cancelled_at            timestamptz,
    -- The mirror, from the venue's records once it started it.
    started_at              timestamptz,
    setup                   jsonb,
    -- Registered players' ids in the order of `setup.players` (null for walk-ins).
    player_ids              text[],
    -- The `shared::bracket::View` after the entries replayed so far.
    view                    jsonb,
    complete                boolean NOT NULL DEFAULT false,
    -- Entries applied to `view` (a gap or a refused entry stops the replay there).
    applied                 integer NOT NULL DEFAULT 0,
    mirror_error            text
);
CREATE INDEX tournaments_venue ON tournaments (venue_id, starts_at);
CREATE INDEX tournaments_check_in_due ON tournaments (check_in_opens_at)
    WHERE check_in_opened_at IS NULL AND cancelled_at IS NULL AND started_at IS NULL;

-- Online registrations: registered (within the cap), waitlisted (beyond it) or checked in; the
-- order of `id` is the order of registration, and a withdrawal deletes the row.
CREATE TABLE tournament_registrations (
    id            bigserial PRIMARY KEY,
    tournament_id text NOT NULL REFERENCES tournaments (id) ON DELETE CASCADE,
    user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    player_id     text NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    name          text NOT NULL,
    status        text NOT NULL CHECK (status IN ('registered', 'waitlisted', 'checked_in')),
    registered_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tournament_id, user_id)
);
CREATE INDEX tournament_registrations_player ON tournament_registrations (player_id);

-- The venue's bracket entries, by ordinal (1, 2, … without gaps), as synced.
CREATE TABLE tournament_entries (
    tournament_id text NOT NULL REFERENCES tournaments (id) ON DELETE CASCADE,
    ordinal       integer NOT NULL,
    entry         jsonb NOT NULL,
    table_match   text,
    at_ms         bigint NOT NULL,
    PRIMARY KEY (tournament_id, ordinal)
);

-- Matches called to tables (the latest call of each bracket match).
CREATE TABLE tournament_calls (
    tournament_id text NOT NULL REFERENCES tournaments (id) ON DELETE CASCADE,
    bracket_match text NOT NULL,
    table_id      text NOT NULL,
    players       text[] NOT NULL,
    called_ms     bigint NOT NULL,
    PRIMARY KEY (tournament_id, bracket_match)
);

-- Table matches that played bracket matches (from `match_started.tournament`): the venue's match
-- id; reads join `matches` for the cloud's.
CREATE TABLE tournament_links (
    tournament_id  text NOT NULL REFERENCES tournaments (id) ON DELETE CASCADE,
    bracket_match  text NOT NULL,
    venue_match_id text NOT NULL,
    PRIMARY KEY (tournament_id, bracket_match)
);

-- Tournament records the mirror refused (a venue naming another venue's tournament, an entry for
-- a tournament never started): kept for operators, never applied.
CREATE TABLE tournament_refusals (
    id            bigserial PRIMARY KEY,
    venue_id      text NOT NULL,
    epoch         text NOT NULL,
    seq           bigint NOT NULL,
    tournament_id text NOT NULL,
    reason        text NOT NULL,
    at            timestamptz NOT NULL DEFAULT now()
);

-- A time as Unix ms, as this context computes with them.
CREATE FUNCTION tournament_ms(timestamptz) RETURNS bigint LANGUAGE sql STABLE AS
    $$ SELECT (extract(epoch FROM $1) * 1000)::bigint $$;

-- What every read and every change starts from: a tournament, its venue's name, its times in ms,
-- the facts its status follows and how many are registered (once started: the bracket's players).
CREATE VIEW tournament_heads AS
SELECT t.id, t.venue_id, v.name AS venue_name, t.name, t.format, t.options, t.cap, t.public,
       t.origin,
       tournament_ms(t.starts_at) AS starts_ms,
       tournament_ms(t.registration_opens_at) AS registration_opens_ms,
       tournament_ms(t.registration_closes_at) AS registration_closes_ms,
       tournament_ms(t.check_in_opens_at) AS check_in_opens_ms,
       t.check_in_opened_at IS NOT NULL AS check_in_opened,
       t.cancelled_at IS NOT NULL AS cancelled,
       t.started_at IS NOT NULL AS started,
       t.complete,
       tournament_ms(now()) AS now_ms,
       (CASE WHEN t.started_at IS NOT NULL AND t.setup IS NOT NULL
             THEN jsonb_array_length(t.setup -> 'players')
             ELSE (SELECT count(*) FROM tournament_registrations r
                    WHERE r.tournament_id = t.id AND r.status <> 'waitlisted')
        END)::bigint AS registered
  FROM tournaments t JOIN venues v ON v.id = t.venue_id;
