-- Notifications (issue 17): the outbox of deliveries every channel beyond in-app takes its work
-- from, each attempt kept, each user's choice of channels per kind, Web Push subscriptions,
-- webhooks, and the VAPID key every instance signs push requests with.

-- A user's channels for one kind (in-app is always on). No row: the kind's defaults
-- (`notifications::prefs::defaults`).
CREATE TABLE notification_preferences (
    user_id text    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind    text    NOT NULL,
    email   boolean NOT NULL,
    push    boolean NOT NULL,
    webhook boolean NOT NULL,
    PRIMARY KEY (user_id, kind)
);

-- A browser's Web Push subscription (RFC 8030 endpoint, RFC 8291 keys). Removed when the push
-- service answers 404 or 410.
CREATE TABLE push_subscriptions (
    id         text PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    endpoint   text NOT NULL,
    -- The user agent's P-256 public key and auth secret, base64url as the browser gives them.
    p256dh     text NOT NULL,
    auth       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, endpoint)
);

-- An integration's endpoint. The secret signs each delivery (HMAC-SHA256), so it is kept as
-- issued (a hash could not sign); it is shown to its owner once, at creation.
CREATE TABLE webhooks (
    id         text PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url        text NOT NULL,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_user ON webhooks (user_id);

-- The outbox: one row per notification and channel target. The worker claims due rows
-- (`FOR UPDATE SKIP LOCKED`), leases them while it tries, and records each attempt.
-- status: pending (due at next_at), sending (leased until lease_until), delivered, failed (final).
CREATE TABLE deliveries (
    id              bigserial PRIMARY KEY,
    notification_id bigint NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    user_id         text NOT NULL,
    channel         text NOT NULL CHECK (channel IN ('email', 'push', 'webhook')),
    -- The push subscription or webhook id; NULL for email (the user's address at send time).
    target          text,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_at         timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX deliveries_due ON deliveries (next_at) WHERE status IN ('pending', 'sending');
CREATE INDEX deliveries_notification ON deliveries (notification_id);
CREATE INDEX deliveries_status ON deliveries (status, id DESC);

-- Every attempt of every delivery, kept.
CREATE TABLE delivery_attempts (
    delivery_id bigint  NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt     integer NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    outcome     text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'failed')),
    error       text,
    PRIMARY KEY (delivery_id, attempt)
);

-- The VAPID key pair (RFC 8292) push requests are signed with, shared by every instance
-- (`cloud-sync push keygen` makes or replaces it). One row.
CREATE TABLE vapid_keys (
    id          smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    private_key bytea NOT NULL,
    public_key  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
