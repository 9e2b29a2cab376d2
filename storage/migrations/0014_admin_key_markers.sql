-- The markers (core::ChatLogic's AdminMarker, a hash of an admin-api-key) that the
-- built-in administrator's row has held. A core whose key's marker is listed here, while
-- the row holds another, is configured with a key replaced since: it neither takes the
-- row back (which ended the new key's sessions, and two cores on different keys then
-- moved the row to and fro every second for as long as they disagreed) nor logs in with
-- that key. Only a change of the key in that core's own settings (a reload) takes it back.
CREATE TABLE admin_key_markers (
  marker        text PRIMARY KEY,
  first_held_at timestamptz NOT NULL DEFAULT now()
);
