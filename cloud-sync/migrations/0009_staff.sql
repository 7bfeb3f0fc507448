-- Staff at the venue (issue 17): a console PIN per staff member and venue, set in the portal and
-- pulled by the venue's appliance with its staff list (`GET /api/v1/sync/staff`) so staff sign in
-- at the console offline. Only the Argon2id PHC string is kept, never the PIN. Staff are the users
-- holding a role at the venue (`user_roles`); a PIN without a role there is never sent.
CREATE TABLE staff_pins (
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    venue_id   text NOT NULL REFERENCES venues (id) ON DELETE CASCADE,
    pin_hash   text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, venue_id)
);
CREATE INDEX staff_pins_venue ON staff_pins (venue_id);
