-- Users, sessions and messages. Times are timestamptz; the core passes and reads them
-- as microseconds since the Unix epoch through tch_ts() and tch_us().

CREATE FUNCTION tch_ts(us bigint) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN timestamptz 'epoch' + us * interval '1 microsecond';

CREATE FUNCTION tch_us(t timestamptz) RETURNS bigint
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN (extract(epoch FROM t) * 1000000)::bigint;

CREATE TABLE users (
  id           bigserial PRIMARY KEY,
  role         text NOT NULL CHECK (role IN ('member', 'pro', 'admin')),
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  -- SHA-256 (hex) of the API key; the key itself is never stored.
  api_key_hash text NOT NULL UNIQUE,
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
  -- SHA-256 (hex) of the session token.
  token_hash text PRIMARY KEY,
  user_id    bigint NOT NULL REFERENCES users (id),
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE messages (
  id           bigserial PRIMARY KEY,
  sender_id    bigint NOT NULL REFERENCES users (id),
  recipient_id bigint NOT NULL REFERENCES users (id),
  content      text NOT NULL,
  sent_at      timestamptz NOT NULL,
  modified_at  timestamptz,
  deleted_at   timestamptz,  -- soft delete: the row stays, never delivered again
  read_at      timestamptz
);
-- GET_UNREAD: the unread messages of one recipient, by id.
CREATE INDEX messages_unread_idx ON messages (recipient_id, id)
  WHERE read_at IS NULL AND deleted_at IS NULL;
-- Rate limiting: the latest messages of one sender.
CREATE INDEX messages_sender_time_idx ON messages (sender_id, sent_at);
