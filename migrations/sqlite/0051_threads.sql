-- Threads: a reply can open a thread under a live message of the main timeline (its root).
-- Thread replies are ordinary messages of the room (they take the room's next seq) that name
-- their root; the root's summary (reply count, last reply, participants) is computed from them.
ALTER TABLE messages ADD COLUMN thread_root_id BLOB REFERENCES messages (id);
CREATE INDEX messages_thread ON messages (thread_root_id, seq) WHERE thread_root_id IS NOT NULL;

-- Who follows a thread (posting in it, being mentioned in it, having written its root, or
-- asking to), and how far they have read it (a room seq). An explicit unfollow keeps the row
-- with following = 0, so that the root's author who unfollowed is not followed again by the
-- next reply.
CREATE TABLE thread_follows (
    root_id       BLOB NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id       BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_id       BLOB NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    following     INTEGER NOT NULL DEFAULT 1,
    last_read_seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (root_id, user_id)
) WITHOUT ROWID;
CREATE INDEX thread_follows_user ON thread_follows (user_id, room_id);
