-- Profiles and account settings: a status line, deleted accounts kept as tombstones (their
-- messages stay), and what a login was made from, for the list of sessions.
ALTER TABLE users ADD COLUMN status_text TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN deleted_at TIMESTAMPTZ;
ALTER TABLE refresh_tokens ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN address TEXT NOT NULL DEFAULT '';
