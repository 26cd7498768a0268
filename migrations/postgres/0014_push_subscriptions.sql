-- Web Push: each browser (or device) that opted in to notifications while its tab is closed.
-- The endpoint is the push service's URL for that browser, unique across users: a browser that
-- subscribes again under another account moves to that account. `login_id` is the refresh-token
-- family (the session) that subscribed: when it ends, the subscription stops receiving.
CREATE TABLE push_subscriptions (
    id         UUID PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    login_id   UUID,
    endpoint   TEXT NOT NULL UNIQUE,
    p256dh     TEXT NOT NULL,
    auth       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id);

-- Whether a user's push notifications carry the message text (off: room name and sender only).
ALTER TABLE users ADD COLUMN push_include_text BOOLEAN NOT NULL DEFAULT FALSE;
