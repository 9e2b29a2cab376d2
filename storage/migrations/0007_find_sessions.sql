-- The batched session look-up of every call (storage/pg_store.cc, find_sessions), as a
-- function so that its query is planned once per connection (issue 8). As a prepared
-- statement with array parameters, PostgreSQL planned it anew at nearly every call (a
-- custom plan looked cheaper than the generic one), which cost more than running it.
-- Element k of `hashes` and `at_us` is look-up k: one row per session found, with k.
-- One primary-key probe per token, whatever the tables' sizes: the LIMIT keeps the
-- planner from joining the whole sessions table instead.
CREATE FUNCTION tch_find_sessions(hashes text[], at_us bigint[])
  RETURNS TABLE (o_k bigint, o_user_id bigint, o_role text, o_expires_us bigint,
                 o_banned boolean)
  LANGUAGE plpgsql STABLE
  SET plan_cache_mode = force_generic_plan
  AS $$
BEGIN
  RETURN QUERY
  SELECT q.k, f.user_id, f.role, tch_us(f.expires_at), f.banned
  FROM unnest(hashes, at_us) WITH ORDINALITY AS q(h, at, k)
  CROSS JOIN LATERAL (
    SELECT s.user_id, s.expires_at, u.role,
           EXISTS (SELECT 1 FROM restrictions r WHERE r.target_id = u.id AND r.kind = 'ban'
                   AND r.scope_id IS NULL AND r.lifted_at IS NULL) AS banned
    FROM sessions s JOIN users u ON u.id = s.user_id
    WHERE s.token_hash = q.h AND s.expires_at > tch_ts(q.at)
    LIMIT 1) f;
END
$$;
