-- What happened to messages, per recipient, for live delivery (Subscribe) and polling
-- (NEW_CHG_AVAILABLE). Writers lock the recipient's users row before inserting, so
-- for one recipient the ids increase in commit order: a reader that remembers the last
-- id it saw never misses a change.
CREATE TABLE changes (
  id         bigserial PRIMARY KEY,
  user_id    bigint NOT NULL REFERENCES users (id),
  kind       text NOT NULL CHECK (kind IN ('new_message', 'message_updated', 'message_deleted')),
  message_id bigint NOT NULL REFERENCES messages (id),
  created_at timestamptz NOT NULL
);
CREATE INDEX changes_user_idx ON changes (user_id, id);

-- NEW_CHG_AVAILABLE: each session remembers the last change it returned.
ALTER TABLE sessions ADD COLUMN last_change_id bigint NOT NULL DEFAULT 0;
