-- Pinned messages: at most one pin per message. The rowid orders a room's pins, newest last.
CREATE TABLE room_pins (
    id         INTEGER PRIMARY KEY,
    room_id    BLOB NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    message_id BLOB NOT NULL UNIQUE REFERENCES messages (id) ON DELETE CASCADE,
    -- Who pinned it; kept (as NULL) when that account is deleted.
    pinned_by  BLOB REFERENCES users (id) ON DELETE SET NULL,
    pinned_at  TEXT NOT NULL
);
CREATE INDEX room_pins_room ON room_pins (room_id, id);
