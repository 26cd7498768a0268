-- Server-wide roles: an admin runs the server (moderates any room, suspends accounts); everyone
-- else is a member. The first account of a fresh server becomes its admin.
ALTER TABLE users ADD COLUMN server_role TEXT NOT NULL DEFAULT 'member'
    CHECK (server_role IN ('admin', 'member'));

-- One row at most: whoever inserts it is the server's founding admin. The primary key makes
-- "the first account" race-free when two registrations arrive together on a fresh server.
CREATE TABLE server_founder (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    user_id UUID REFERENCES users (id) ON DELETE SET NULL
);

-- A server that already has accounts: its oldest one is the admin.
UPDATE users SET server_role = 'admin'
    WHERE id = (SELECT id FROM users ORDER BY created_at, id LIMIT 1);
INSERT INTO server_founder (id, user_id)
    SELECT 1, id FROM users ORDER BY created_at, id LIMIT 1;
