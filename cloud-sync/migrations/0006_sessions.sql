-- Sign-in (issue 17, auth): sessions with their rotating refresh tokens, the one-time links sent by
-- email (verify an address, reset a password) and the failed-sign-in counters that slow guessing.
-- Every secret here is a SHA-256 of a 256-bit random value; none can be turned back into a token.

-- A session is one sign-in on one device: a family of refresh tokens, each used once. The newest
-- (`current_hash`) refreshes; the one before it (`previous_hash`) is honoured for a short grace
-- window and answers with the current token, which the server recomputes as
-- SHA-256(previous token || `salt`) (docs/decisions/0017). Any older token revokes the session.
CREATE TABLE sessions (
    id            text PRIMARY KEY,
    user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz NOT NULL DEFAULT now(),
    addr          text,
    user_agent    text,
    current_hash  bytea NOT NULL,
    previous_hash bytea,
    salt          bytea,
    rotated_at    timestamptz,
    revoked_at    timestamptz,
    revoked_why   text
);
CREATE INDEX sessions_user ON sessions (user_id, created_at DESC);

-- Every refresh token a session has issued, so a used one is recognised (and revokes its family).
CREATE TABLE session_tokens (
    hash       bytea PRIMARY KEY,
    session_id text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX session_tokens_session ON session_tokens (session_id);

-- One-time links sent by email: `verify` (24 h) and `reset` (1 h).
CREATE TABLE email_tokens (
    hash       bytea PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text NOT NULL CHECK (purpose IN ('verify', 'reset')),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose);

-- Failed sign-ins per account (`acct:<email>`, whether or not the account exists) and per client
-- address (`addr:<ip>`): past a threshold each further attempt waits longer (429 Retry-After).
-- In PostgreSQL, not Redis: this limit must hold when Redis is down (the generic limits fail open).
CREATE TABLE login_failures (
    key          text PRIMARY KEY,
    failures     integer NOT NULL,
    last_failure timestamptz NOT NULL
);
