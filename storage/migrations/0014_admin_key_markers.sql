-- When each marker (core::ChatLogic's AdminMarker, a hash of an admin-api-key, or of
-- none) last claimed the built-in administrator's row: the first time a core followed it,
-- or a reload that changed a core's key to it. The latest claim wins. A core whose key's
-- marker claimed the row before the marker the row holds now is configured with a key
-- replaced since: it neither takes the row back (which ended the new key's sessions, and
-- two cores on different keys then moved the row to and fro every second for as long as
-- they disagreed) nor logs in with that key. The markers held now count as claimed now.
CREATE TABLE admin_key_markers (
  marker     text PRIMARY KEY,
  claimed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO admin_key_markers (marker)
SELECT api_key_hash FROM users
WHERE role = 'admin' AND starts_with(api_key_hash, 'built-in-admin:')
ON CONFLICT (marker) DO NOTHING;
