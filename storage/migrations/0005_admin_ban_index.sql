-- The administrators' bans in force, the only restrictions that GET_USER, LOGIN, every
-- session lookup and GET_CONVERSATIONS look for. GET_CONVERSATIONS tests all of its
-- peers at once (a hashed subplan): without this index it read the whole restrictions
-- table, which keeps every block ever set (docs/query-plans.md).
CREATE INDEX restrictions_admin_ban_idx ON restrictions (target_id)
  WHERE kind = 'ban' AND scope_id IS NULL AND lifted_at IS NULL;
