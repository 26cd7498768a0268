-- Moderation: room bans, timeouts, slow mode, suspended accounts and the audit log.

-- A ban keeps a user out of a room: invites, the directory and moderators' adds refuse them.
CREATE TABLE room_bans (
    room_id    UUID NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    banned_by  UUID REFERENCES users (id) ON DELETE SET NULL,
    reason     TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

-- Unix seconds until which a member may read but not post, type or speak; NULL: not timed out.
ALTER TABLE room_members ADD COLUMN timeout_until BIGINT;

-- Seconds a member (not a moderator) must wait between two messages; 0: off.
ALTER TABLE rooms ADD COLUMN slow_mode_secs INTEGER NOT NULL DEFAULT 0;

-- A suspended account cannot sign in; every login of it was revoked when it was suspended.
ALTER TABLE users ADD COLUMN suspended_at TIMESTAMPTZ;

-- Every moderation action. room_id has no foreign key: entries outlive a deleted room.
CREATE TABLE audit_log (
    id                UUID PRIMARY KEY,
    at                TIMESTAMPTZ NOT NULL,
    room_id           UUID,
    actor_id          UUID NOT NULL,
    action            TEXT NOT NULL,
    target_user_id    UUID,
    target_message_id UUID,
    reason            TEXT
);
CREATE INDEX audit_log_room ON audit_log (room_id, at);
CREATE INDEX audit_log_at ON audit_log (at);
