-- Pinned messages: at most one pin per message. The identity orders a room's pins, newest last.
CREATE TABLE room_pins (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    room_id    UUID NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    message_id UUID NOT NULL UNIQUE REFERENCES messages (id) ON DELETE CASCADE,
    -- Who pinned it; kept (as NULL) when that account is deleted.
    pinned_by  UUID REFERENCES users (id) ON DELETE SET NULL,
    pinned_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX room_pins_room ON room_pins (room_id, id);
