-- Avatars: each user's picture, cropped square and shrunk to 256 pixels when set (a few tens of
-- kilobytes of PNG), kept beside the account. avatar_at (unix seconds) versions its URL.
ALTER TABLE users ADD COLUMN avatar_at BIGINT;
CREATE TABLE avatars (
    user_id UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    png     BYTEA NOT NULL
);
