-- Full-text search over message bodies and the names of the files they carry.
--
-- An FTS5 external-content table over `messages` (the text is stored once, in `messages`),
-- kept in step by triggers, so the index changes in the same transaction as the message: a
-- send is searchable once acknowledged, an edit is reindexed at once, a deletion leaves the
-- index. Tokens are words as unicode61 splits them (case and diacritics folded); a search
-- word matches as a prefix of itself and of its English stem (see src/store/search.rs), so
-- `deploy` finds "deployed" and `release` finds "releasing". (FTS5's own porter tokenizer
-- stems a query prefix too, and its stems of a word and of its inflections need not share a
-- prefix: "deploy" becomes "deploi" but "deployment" "deploy".)
--
-- The index names messages by rowid. VACUUM may renumber the rowids of a table without an
-- INTEGER PRIMARY KEY; Confab never vacuums, and after a manual VACUUM
-- `INSERT INTO message_search(message_search) VALUES ('rebuild')` re-reads everything.

-- The names of a message's files, space-separated, filled in by the trigger below.
ALTER TABLE messages ADD COLUMN search_names TEXT NOT NULL DEFAULT '';

CREATE VIRTUAL TABLE message_search USING fts5(
    body, search_names,
    content = 'messages',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER messages_search_insert AFTER INSERT ON messages WHEN new.deleted = 0 BEGIN
    INSERT INTO message_search (rowid, body, search_names)
    VALUES (new.rowid, new.body, new.search_names);
END;

CREATE TRIGGER messages_search_update AFTER UPDATE OF body, deleted, search_names ON messages BEGIN
    INSERT INTO message_search (message_search, rowid, body, search_names)
    SELECT 'delete', old.rowid, old.body, old.search_names WHERE old.deleted = 0;
    INSERT INTO message_search (rowid, body, search_names)
    SELECT new.rowid, new.body, new.search_names WHERE new.deleted = 0;
END;

CREATE TRIGGER messages_search_delete AFTER DELETE ON messages WHEN old.deleted = 0 BEGIN
    INSERT INTO message_search (message_search, rowid, body, search_names)
    VALUES ('delete', old.rowid, old.body, old.search_names);
END;

CREATE TRIGGER message_attachments_search AFTER INSERT ON message_attachments BEGIN
    UPDATE messages
    SET search_names = trim(search_names || ' ' || (SELECT name FROM files WHERE id = new.file_id))
    WHERE id = new.message_id;
END;

-- Existing history: names of files already attached, then the whole index.
UPDATE messages SET search_names = coalesce((
    SELECT group_concat(f.name, ' ')
    FROM message_attachments a JOIN files f ON f.id = a.file_id
    WHERE a.message_id = messages.id
), '')
WHERE deleted = 0 AND attachment_count > 0;

INSERT INTO message_search (message_search) VALUES ('rebuild');
