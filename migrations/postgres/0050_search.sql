-- Full-text search over message bodies and the names of the files they carry.
--
-- A stored tsvector column computed from the row (so an edit is reindexed in the statement
-- that makes it, and a deleted message has none) with a GIN index. English stemming, so
-- `deploy` finds "deployed". Adding the column computes it for the existing history.

-- The names of a message's files, space-separated, filled in by the trigger below.
ALTER TABLE messages ADD COLUMN search_names TEXT NOT NULL DEFAULT '';

ALTER TABLE messages ADD COLUMN search tsvector GENERATED ALWAYS AS (
    CASE WHEN deleted THEN NULL
    ELSE to_tsvector('english', body) || to_tsvector('english', search_names) END
) STORED;

CREATE INDEX messages_search ON messages USING GIN (search);

CREATE FUNCTION message_attachments_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE messages
    SET search_names = trim(search_names || ' ' || (SELECT name FROM files WHERE id = NEW.file_id))
    WHERE id = NEW.message_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER message_attachments_search AFTER INSERT ON message_attachments
FOR EACH ROW EXECUTE FUNCTION message_attachments_search();

UPDATE messages SET search_names = coalesce((
    SELECT string_agg(f.name, ' ' ORDER BY a.position)
    FROM message_attachments a JOIN files f ON f.id = a.file_id
    WHERE a.message_id = messages.id
), '')
WHERE NOT deleted AND attachment_count > 0;
