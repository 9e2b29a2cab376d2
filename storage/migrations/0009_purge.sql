-- Housekeeping (core-service/housekeeper.cc, storage/pg_store.cc purge_*): expired
-- sessions are deleted, and so are the changes no session can still ask for. A session
-- reads only the changes of its user committed after it was created (its cursors start
-- at the latest change then), so a change created well before the oldest session in
-- force is never read again. These indexes keep both deletions from scanning the
-- sessions table; LOGIN, which alone writes it, pays for them.
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
CREATE INDEX sessions_created_idx ON sessions (created_at);
