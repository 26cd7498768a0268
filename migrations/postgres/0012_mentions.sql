-- Mentions: whom a message names (`@username` of a member), for the message resource and for
-- each member's count of unread messages that mention them.
CREATE TABLE message_mentions (
    message_id UUID NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    PRIMARY KEY (message_id, user_id)
);
CREATE INDEX message_mentions_user ON message_mentions (user_id, message_id);

-- `@room` by an owner or admin: the message mentions every member.
ALTER TABLE messages ADD COLUMN mentions_room BOOLEAN NOT NULL DEFAULT FALSE;

-- A member's notification level for the room: 'all', 'mentions' or 'none'; NULL means the
-- default ('mentions' in rooms of over 20 members, else 'all').
ALTER TABLE room_members ADD COLUMN notify TEXT CHECK (notify IN ('all', 'mentions', 'none'));
