-- Results a venue may report (issue 17): a result counts for a registered player's record and
-- statistics only when the player took part knowingly — checked in at that venue from their own
-- account, confirmed the result afterwards, or trusts that venue. Everything else is kept, shown to
-- the player as unconfirmed, and left out of public statistics. Decision 0021, docs/security.md
-- ("Forged results").
--
-- The state of a (match, player) is not stored: it is `result_status(m, player)`, computed from
-- the rows below whenever it is read, so a confirmation, a check-in or a trust changes every read
-- at once and nothing has to be re-projected (the matches projection stays as it was).

-- When the cloud first recorded a match (its projection's clock, never the venue's): results
-- recorded before a profile was claimed count as the venue reported them.
ALTER TABLE matches ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT now();

-- When the account took its player profile (set by the trigger below, whoever links them).
ALTER TABLE users ADD COLUMN player_since timestamptz;
UPDATE users SET player_since = now() WHERE player_id IS NOT NULL;

CREATE FUNCTION users_player_since() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.player_id IS NULL THEN
        NEW.player_since := NULL;
    ELSIF TG_OP = 'INSERT' OR NEW.player_id IS DISTINCT FROM OLD.player_id THEN
        NEW.player_since := now();
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER users_player_since BEFORE INSERT OR UPDATE OF player_id ON users
    FOR EACH ROW EXECUTE FUNCTION users_player_since();

-- "I am at this venue": covers the matches the venue started there (by the venue's clock) from
-- `covers_from` (a little before the check-in) until `ends_at` (hours later, or when ended); the
-- lengths are `confirmations::checkins::{LEAD_IN, COVERS}`.
CREATE TABLE checkins (
    id            bigserial PRIMARY KEY,
    user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    venue_id      text NOT NULL REFERENCES venues (id) ON DELETE CASCADE,
    checked_in_at timestamptz NOT NULL DEFAULT now(),
    covers_from   timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    CHECK (covers_from <= checked_in_at)
);
CREATE INDEX checkins_user_venue ON checkins (user_id, venue_id, checked_in_at DESC);

-- Venues whose reports a user accepts without confirming each one.
CREATE TABLE trusted_venues (
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    venue_id   text NOT NULL REFERENCES venues (id) ON DELETE CASCADE,
    trusted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, venue_id)
);

-- A player's own word on one result: confirmed, or disputed with a reason. Keyed by the player
-- (not the account), so it outlives the account; the latest word stands.
CREATE TABLE result_confirmations (
    match_id   bigint NOT NULL REFERENCES matches (id) ON DELETE CASCADE,
    player_id  text NOT NULL,
    state      text NOT NULL CHECK (state IN ('confirmed', 'disputed')),
    reason     text,
    user_id    text REFERENCES users (id) ON DELETE SET NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (match_id, player_id),
    CHECK (state = 'confirmed' OR reason IS NOT NULL)
);
-- A venue's disputes, for its managers.
CREATE INDEX result_confirmations_disputed ON result_confirmations (match_id)
    WHERE state = 'disputed';

-- How a registered player stands in a match, first rule that holds:
--   'unregistered' — no registered player on that seat (a walk-in name);
--   'disputed'     — the player disputed it (stays out, whatever else holds);
--   'confirmed'    — the player confirmed it;
--   'reported'     — no account holds the profile (nobody can confirm: it counts as reported;
--                    a deleted account that still holds it keeps the rules below);
--   'checked_in'   — the player's account was checked in at that venue when it started;
--   'trusted'      — the player's account trusts that venue;
--   'reported'     — recorded before the account took the profile (kept as it was; disputable);
--   'unconfirmed'  — anything else.
-- Counting: 'confirmed', 'checked_in', 'trusted', 'reported' (`result_counts`).
-- PL/pgSQL, not SQL: its statements' plans are kept across calls (a SQL function that cannot be
-- inlined is planned again on every call, 200 times a page of venue matches).
CREATE FUNCTION result_status(m matches, player text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    said text;
    holder record;
BEGIN
    IF player IS NULL THEN
        RETURN 'unregistered';
    END IF;
    SELECT c.state INTO said FROM result_confirmations c
    WHERE c.match_id = m.id AND c.player_id = player;
    IF said IS NOT NULL THEN
        RETURN said;
    END IF;
    SELECT u.id, u.player_since INTO holder FROM users u WHERE u.player_id = player;
    IF NOT FOUND THEN
        RETURN 'reported';
    END IF;
    IF m.started_ms IS NOT NULL AND EXISTS (
        SELECT 1 FROM checkins k
        WHERE k.user_id = holder.id AND k.venue_id = m.venue_id
          AND m.started_ms >= (extract(epoch FROM k.covers_from) * 1000)::int8
          AND m.started_ms <= (extract(epoch FROM k.ends_at) * 1000)::int8) THEN
        RETURN 'checked_in';
    END IF;
    IF EXISTS (SELECT 1 FROM trusted_venues t
               WHERE t.user_id = holder.id AND t.venue_id = m.venue_id) THEN
        RETURN 'trusted';
    END IF;
    IF holder.player_since IS NULL OR m.recorded_at < holder.player_since THEN
        RETURN 'reported';
    END IF;
    RETURN 'unconfirmed';
END $$;

-- Whether the result counts for `player` (and, publicly, names them).
CREATE FUNCTION result_counts(m matches, player text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT result_status(m, player) IN ('confirmed', 'checked_in', 'trusted', 'reported')
$$;

-- A match's seats as the public sees them: a registered player whose result does not count is
-- withheld (NULL), name and id.
CREATE FUNCTION public_player_ids(m matches) RETURNS text[]
LANGUAGE plpgsql STABLE AS $$
DECLARE
    shown text[];
BEGIN
    IF m.player_ids IS NULL THEN
        RETURN NULL;
    END IF;
    shown := m.player_ids;
    FOR i IN 1 .. coalesce(array_length(shown, 1), 0) LOOP
        IF shown[i] IS NOT NULL AND NOT result_counts(m, shown[i]) THEN
            shown[i] := NULL;
        END IF;
    END LOOP;
    RETURN shown;
END $$;

CREATE FUNCTION public_players(m matches) RETURNS text[]
LANGUAGE plpgsql STABLE AS $$
DECLARE
    shown text[];
BEGIN
    IF m.players IS NULL OR m.player_ids IS NULL THEN
        RETURN m.players;
    END IF;
    shown := m.players;
    FOR i IN 1 .. coalesce(array_length(shown, 1), 0) LOOP
        IF m.player_ids[i] IS NOT NULL AND NOT result_counts(m, m.player_ids[i]) THEN
            shown[i] := NULL;
        END IF;
    END LOOP;
    RETURN shown;
END $$;
