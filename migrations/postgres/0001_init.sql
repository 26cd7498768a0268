-- Accounts, rooms, membership with read positions, and messages with their per-room seq.

CREATE TABLE users (
    id            UUID PRIMARY KEY,
    username      TEXT NOT NULL,
    -- Lower-cased username: uniqueness and login ignore case.
    username_key  TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX users_display_name_key ON users (lower(display_name));

-- Refresh tokens, kept only as SHA-256 hashes. A family is one login's chain of rotations:
-- presenting a token that was already used revokes the whole family.
CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id  UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    -- Unix seconds: compared in SQL on both backends.
    expires_at BIGINT NOT NULL,
    used_at    TIMESTAMPTZ,
    revoked    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE rooms (
    id         UUID PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('group', 'dm')),
    name       TEXT NOT NULL,
    topic      TEXT NOT NULL DEFAULT '',
    -- For DMs, "<smaller user id>:<larger user id>": one DM room per pair.
    dm_key     TEXT UNIQUE,
    created_by UUID REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL,
    -- The seq of the newest message; the next message takes last_seq + 1 in its insert transaction.
    last_seq   BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE room_members (
    room_id       UUID NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at     TIMESTAMPTZ NOT NULL,
    last_read_seq BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_user ON room_members (user_id);

CREATE TABLE messages (
    id             UUID PRIMARY KEY,
    room_id        UUID NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq            BIGINT NOT NULL,
    sender_id      UUID NOT NULL REFERENCES users (id),
    body           TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    edited_at      TIMESTAMPTZ,
    deleted        BOOLEAN NOT NULL DEFAULT FALSE,
    client_id      TEXT,
    reply_to_id    UUID REFERENCES messages (id),
    -- A forward keeps its original's identity even if the original is later deleted.
    fwd_message_id UUID,
    fwd_room_id    UUID,
    fwd_sender_id  UUID,
    fwd_created_at TIMESTAMPTZ,
    UNIQUE (room_id, seq)
);
-- client_id is the sender's idempotency key.
CREATE UNIQUE INDEX messages_client_id ON messages (sender_id, client_id) WHERE client_id IS NOT NULL;
