-- Link previews. One row per fetch of a URL (`found` false when there was nothing to show, so a
-- failure is not retried within the hour either); messages that link the same URL within the
-- hour share the row, and so its image. The picture is kept here, shrunk (tens of kilobytes).
CREATE TABLE link_previews (
    id           BLOB PRIMARY KEY,
    url          TEXT NOT NULL,
    fetched_at   INTEGER NOT NULL,
    found        BOOLEAN NOT NULL,
    title        TEXT,
    description  TEXT,
    site_name    TEXT,
    image        BLOB,
    image_type   TEXT,
    image_width  INTEGER,
    image_height INTEGER
);
CREATE INDEX link_previews_url ON link_previews (url, fetched_at);

-- The previews a message shows, in the order of its links. Deleting the message (or making it
-- a tombstone) removes its rows; a preview no message shows is pruned once its hour is over.
CREATE TABLE message_embeds (
    message_id BLOB NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    preview_id BLOB NOT NULL REFERENCES link_previews (id) ON DELETE CASCADE,
    PRIMARY KEY (message_id, position)
);
CREATE INDEX message_embeds_preview ON message_embeds (preview_id);
