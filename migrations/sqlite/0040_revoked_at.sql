-- When a login was revoked (unix seconds), so that every node can learn of revocations it did
-- not hear on the bus (a node that started later, an admin command run beside the server) and
-- refuse that login's access tokens until they expire.
ALTER TABLE refresh_tokens ADD COLUMN revoked_at INTEGER;
CREATE INDEX refresh_tokens_revoked_at ON refresh_tokens (revoked_at) WHERE revoked_at IS NOT NULL;
