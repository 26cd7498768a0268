-- Accounts, rooms, membership with read positions, and messages with their per-room seq.
-- Ids are 16-byte UUID blobs, times RFC 3339 text, booleans integers (sqlx's SQLite encodings).

CREATE TABLE users (
    id            BLOB PRIMARY KEY,
    username      TEXT NOT NULL,
    -- Lower-cased username: uniqueness and login ignore case.
    username_key  TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX users_display_name_key ON users (lower(display_name));

-- Refresh tokens, kept only as SHA-256 hashes. A family is one login's chain of rotations:
-- presenting a token that was already used revokes the whole family.
CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id  BLOB NOT NULL,
    created_at TEXT NOT NULL,
    -- Unix seconds: compared in SQL on both backends.
    expires_at INTEGER NOT NULL,
    used_at    TEXT,
    revoked    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE rooms (
    id         BLOB PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('group', 'dm')),
    name       TEXT NOT NULL,
    topic      TEXT NOT NULL DEFAULT '',
    -- For DMs, "<smaller user id>:<larger user id>": one DM room per pair.
    dm_key     TEXT UNIQUE,
    created_by BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    -- The seq of the newest message; the next message takes last_seq + 1 in its insert transaction.
    last_seq   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE room_members (
    room_id       BLOB NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id       BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at     TEXT NOT NULL,
    last_read_seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
CREATE INDEX room_members_user ON room_members (user_id);

CREATE TABLE messages (
    id             BLOB PRIMARY KEY,
    room_id        BLOB NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq            INTEGER NOT NULL,
    sender_id      BLOB NOT NULL REFERENCES users (id),
    body           TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    edited_at      TEXT,
    deleted        INTEGER NOT NULL DEFAULT 0,
    client_id      TEXT,
    reply_to_id    BLOB REFERENCES messages (id),
    -- A forward keeps its original's identity even if the original is later deleted.
    fwd_message_id BLOB,
    fwd_room_id    BLOB,
    fwd_sender_id  BLOB,
    fwd_created_at TEXT,
    UNIQUE (room_id, seq)
);
-- client_id is the sender's idempotency key.
CREATE UNIQUE INDEX messages_client_id ON messages (sender_id, client_id) WHERE client_id IS NOT NULL;
