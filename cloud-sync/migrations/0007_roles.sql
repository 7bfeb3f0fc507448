-- Roles (issue 17): service tokens, player-profile claims, the privacy of a player profile, and
-- ids for venue keys (so a venue's manager can list and revoke them without ever seeing a key).

-- A machine identity for integrations (`cloud-sync service-token create NAME`). The token
-- (`dps_…`, 256 random bits) is shown once; only its SHA-256 is kept. Revoked tokens stay, so a
-- name is never reused for a different credential without a trace.
CREATE TABLE service_tokens (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    token_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE UNIQUE INDEX service_tokens_live_name ON service_tokens (name) WHERE revoked_at IS NULL;

-- A user's claim on a registered player profile venues already sync: an administrator, or a
-- manager of a venue where that player played, approves or rejects it.
CREATE TABLE player_claims (
    id         bigserial PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    player_id  text NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    status     text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    created_at timestamptz NOT NULL DEFAULT now(),
    decided_by text REFERENCES users (id) ON DELETE SET NULL,
    decided_at timestamptz
);
CREATE UNIQUE INDEX player_claims_pending ON player_claims (user_id, player_id)
    WHERE status = 'pending';
CREATE INDEX player_claims_status ON player_claims (status, id DESC);

-- Whether a player's name, id and statistics show on the public read API. Private by default
-- (data protection by default): a player opts in from their profile; a profile nobody claimed
-- stays private.
ALTER TABLE players ADD COLUMN public boolean NOT NULL DEFAULT false;

-- A venue key's id: what its managers see, list and revoke by (never the key or its hash).
ALTER TABLE venue_keys ADD COLUMN id bigserial UNIQUE;
