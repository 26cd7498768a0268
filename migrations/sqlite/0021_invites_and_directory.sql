-- Invite codes to a room, and rooms anyone may find and join.

CREATE TABLE invites (
    -- Random, URL-safe: the code is the secret.
    code       TEXT PRIMARY KEY,
    room_id    BLOB NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    created_by BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    -- Unix seconds: compared in SQL on both backends.
    expires_at INTEGER NOT NULL,
    -- NULL: unlimited.
    max_uses   INTEGER,
    uses       INTEGER NOT NULL DEFAULT 0,
    -- A revoked code is kept, so that presenting it says "expired" rather than "unknown".
    revoked    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX invites_room ON invites (room_id);

-- private: members only, joined by invite or by a moderator; public: listed and open to join.
ALTER TABLE rooms ADD COLUMN visibility TEXT NOT NULL DEFAULT 'private'
    CHECK (visibility IN ('private', 'public'));
CREATE INDEX rooms_public ON rooms (visibility) WHERE visibility = 'public';
