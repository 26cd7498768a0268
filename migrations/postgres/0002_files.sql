-- Uploaded files and the messages that carry them.

-- One row per upload; the bytes are stored once per content (sha256) in the file storage.
CREATE TABLE files (
    id           UUID PRIMARY KEY,
    uploader_id  UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    width        INTEGER,
    height       INTEGER,
    duration_ms  BIGINT,
    -- Where the thumbnail is kept, for images.
    thumbnail    TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    -- Unix seconds after which an upload never attached is deleted; NULL once attached.
    expires_at   BIGINT
);
CREATE INDEX files_uploader ON files (uploader_id);
CREATE INDEX files_sha256 ON files (sha256);
CREATE INDEX files_expires ON files (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE message_attachments (
    message_id UUID NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    file_id    UUID NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    room_id    UUID NOT NULL,
    seq        BIGINT NOT NULL,
    position   INTEGER NOT NULL,
    PRIMARY KEY (message_id, file_id)
);
CREATE INDEX message_attachments_room ON message_attachments (room_id, seq);
CREATE INDEX message_attachments_file ON message_attachments (file_id);

-- How many files a message carries, so pages without any skip the attachment query.
ALTER TABLE messages ADD COLUMN attachment_count INTEGER NOT NULL DEFAULT 0;
