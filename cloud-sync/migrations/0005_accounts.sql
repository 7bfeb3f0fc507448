-- Accounts and roles (issue 17): who is who, what each may do, the keys access tokens are signed
-- with, the audit log of privileged actions and the in-app notifications every channel starts from.
-- Later migrations of the same issue add sessions, deliveries, staff PINs and confirmations.

-- A person with an account. The email is kept as typed for display and compared lower-cased
-- (`email_key`); a deleted account keeps its row, anonymised, so the results it played stay.
CREATE TABLE users (
    id                text PRIMARY KEY,
    email             text,
    email_key         text UNIQUE,
    display_name      text NOT NULL,
    -- Argon2id PHC string (m = 19 MiB, t = 2, p = 1); NULL once the account is deleted.
    password_hash     text,
    email_verified_at timestamptz,
    -- The registered player this account is (claimed or given); players' histories follow it.
    player_id         text REFERENCES players (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    deleted_at        timestamptz
);
CREATE UNIQUE INDEX users_player ON users (player_id) WHERE player_id IS NOT NULL;

-- Roles beyond `player` (which everyone has): `venue_manager` and `organiser` scoped to a venue
-- (an organiser may also be global: venue_id NULL), `admin` (global).
CREATE TABLE user_roles (
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('venue_manager', 'organiser', 'admin')),
    venue_id   text REFERENCES venues (id) ON DELETE CASCADE,
    granted_by text REFERENCES users (id) ON DELETE SET NULL,
    granted_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'admin' AND venue_id IS NULL)
        OR (role = 'venue_manager' AND venue_id IS NOT NULL)
        OR role = 'organiser')
);
CREATE UNIQUE INDEX user_roles_unique ON user_roles (user_id, role, COALESCE(venue_id, ''));
CREATE INDEX user_roles_venue ON user_roles (venue_id) WHERE venue_id IS NOT NULL;

-- HMAC keys access tokens are signed with, shared by every instance. The newest unretired key
-- signs; every unretired key verifies, so rotating (a new key) logs nobody out, and retiring an
-- old key after the access-token lifetime ends its tokens.
CREATE TABLE signing_keys (
    kid        text PRIMARY KEY,
    secret     bytea NOT NULL CHECK (length(secret) >= 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz
);

-- Append-only: who did what to which resource, when and from where. Nothing updates or deletes
-- rows here (the trigger refuses it).
CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor_id   text,
    action     text NOT NULL,
    resource   text NOT NULL,
    venue_id   text,
    addr       text,
    detail     jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_venue ON audit_log (venue_id, id DESC) WHERE venue_id IS NOT NULL;
CREATE INDEX audit_log_actor ON audit_log (actor_id, id DESC);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- What a user is told (the in-app channel is this table). Other channels' deliveries hang off it.
CREATE TABLE notifications (
    id         bigserial PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       text NOT NULL,
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at    timestamptz
);
CREATE INDEX notifications_user ON notifications (user_id, id DESC);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;
