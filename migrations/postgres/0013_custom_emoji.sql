-- Custom emoji: a server admin's uploaded image, used in reactions as `:name:`. The file is the
-- upload itself (its bytes stay where uploads are kept); while it is an emoji it never expires and
-- any signed-in user may read it.
CREATE TABLE custom_emoji (
    name       TEXT PRIMARY KEY,
    file_id    UUID NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    -- Who uploaded it; kept (as NULL) when that account is deleted.
    created_by UUID REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX custom_emoji_file ON custom_emoji (file_id);

-- One row that every add of an emoji updates first, so adds run one at a time and the count of
-- emoji cannot pass the server's limit when two admins add at once.
CREATE TABLE custom_emoji_lock (id INTEGER PRIMARY KEY);
INSERT INTO custom_emoji_lock (id) VALUES (1);
