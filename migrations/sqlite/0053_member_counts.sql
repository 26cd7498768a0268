-- Each room's number of members, kept by triggers, so reading it costs one row instead of a scan
-- of the room's memberships: a session reads it at start for each of its rooms (it tells whether
-- the room's presence is by subscription), and every room listing shows it.
ALTER TABLE rooms ADD COLUMN members_count INTEGER NOT NULL DEFAULT 0;

UPDATE rooms SET members_count = (SELECT COUNT(*) FROM room_members m WHERE m.room_id = rooms.id);

CREATE TRIGGER room_members_counted AFTER INSERT ON room_members
BEGIN
    UPDATE rooms SET members_count = members_count + 1 WHERE id = NEW.room_id;
END;

CREATE TRIGGER room_members_uncounted AFTER DELETE ON room_members
BEGIN
    UPDATE rooms SET members_count = members_count - 1 WHERE id = OLD.room_id;
END;
