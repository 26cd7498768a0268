-- Each room's number of members, kept by a trigger, so reading it costs one row instead of a scan
-- of the room's memberships: a session reads it at start for each of its rooms (it tells whether
-- the room's presence is by subscription), and every room listing shows it. Memberships change
-- one room at a time, so the trigger locks one room row, as a send to that room does.
ALTER TABLE rooms ADD COLUMN members_count BIGINT NOT NULL DEFAULT 0;

UPDATE rooms r SET members_count = (SELECT COUNT(*) FROM room_members m WHERE m.room_id = r.id);

CREATE FUNCTION count_room_members() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE rooms SET members_count = members_count + 1 WHERE id = NEW.room_id;
    ELSE
        UPDATE rooms SET members_count = members_count - 1 WHERE id = OLD.room_id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER room_members_counted AFTER INSERT OR DELETE ON room_members
    FOR EACH ROW EXECUTE FUNCTION count_room_members();
