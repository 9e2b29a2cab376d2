-- Blocks and bans. A row restricts what `target_id` may send: to `scope_id` only (a
-- pro's restriction), or to everyone when scope_id is NULL (an admin's). A block ends at
-- `until`; a ban has no end. Lifting keeps the row for the record.
CREATE TABLE restrictions (
  id         bigserial PRIMARY KEY,
  target_id  bigint NOT NULL REFERENCES users (id),
  set_by     bigint NOT NULL REFERENCES users (id),
  scope_id   bigint REFERENCES users (id),
  kind       text NOT NULL CHECK (kind IN ('block', 'ban')),
  until      timestamptz,
  created_at timestamptz NOT NULL,
  lifted_at  timestamptz,
  CHECK ((kind = 'ban') = (until IS NULL))
);
CREATE INDEX restrictions_active_idx ON restrictions (target_id) WHERE lifted_at IS NULL;

-- History: the caller's sent messages, and received ones once read, newest first.
CREATE INDEX messages_sent_idx ON messages (sender_id, id) WHERE deleted_at IS NULL;
CREATE INDEX messages_received_read_idx ON messages (recipient_id, id)
  WHERE read_at IS NOT NULL AND deleted_at IS NULL;
-- History with one peer, and conversations.
CREATE INDEX messages_pair_idx ON messages (sender_id, recipient_id, id)
  WHERE deleted_at IS NULL;
CREATE INDEX messages_received_idx ON messages (recipient_id, id) WHERE deleted_at IS NULL;
