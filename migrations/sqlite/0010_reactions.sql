-- Reactions: one row per (message, emoji, user). The rowid orders them, so a message's emoji
-- are listed in the order each was first used and its reactors in the order they reacted,
-- even when two reactions share a millisecond.
CREATE TABLE message_reactions (
    id         INTEGER PRIMARY KEY,
    message_id BLOB NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    emoji      TEXT NOT NULL,
    -- A member who leaves the room keeps their reactions; a deleted account takes them along.
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    UNIQUE (message_id, emoji, user_id)
);
