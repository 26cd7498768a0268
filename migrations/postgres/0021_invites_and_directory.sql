-- Invite codes to a room, and rooms anyone may find and join.

CREATE TABLE invites (
    -- Random, URL-safe: the code is the secret.
    code       TEXT PRIMARY KEY,
    room_id    UUID NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    created_by UUID REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL,
    -- Unix seconds: compared in SQL on both backends.
    expires_at BIGINT NOT NULL,
    -- NULL: unlimited.
    max_uses   INTEGER,
    uses       INTEGER NOT NULL DEFAULT 0,
    -- A revoked code is kept, so that presenting it says "expired" rather than "unknown".
    revoked    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX invites_room ON invites (room_id);

-- private: members only, joined by invite or by a moderator; public: listed and open to join.
ALTER TABLE rooms ADD COLUMN visibility TEXT NOT NULL DEFAULT 'private'
    CHECK (visibility IN ('private', 'public'));
CREATE INDEX rooms_public ON rooms (visibility) WHERE visibility = 'public';
