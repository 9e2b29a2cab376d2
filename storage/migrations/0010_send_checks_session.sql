-- SEND_MSG checks its session in the send's own statement (issue 8). The core answers
-- a send from the sessions it has seen (core-service/session_cache.h) without a look-up
-- round trip; this statement refuses, as the look-up would have, a send whose session
-- is not in force for its sender ('no-session': logged out through any core, expired,
-- or another user's) and a send whose sender an admin has banned ('account-banned').
-- Measured with pgbench on tmpfs, one row: a separate look-up statement cost about
-- 90 us a send; a wrapper function doing the check around the old one, 65 to 110 us;
-- these two joins inside the statement, as below, much less.
--
-- A new overload of tch_send_batch with the session hashes first; element k of every
-- array is send k, and an empty hash checks nothing (InsertMessage, tools); a missing
-- one (NULL, a shorter array) fails closed as 'no-session'. The body is
-- 0008's with the two checks added to `input` and `checked`.
CREATE FUNCTION tch_send_batch(hashes text[], senders bigint[], recipients bigint[],
                               contents text[], at_us bigint[], recipient_roles text[],
                               per_minute bigint[], per_hour bigint[])
  RETURNS TABLE (o_outcome text, o_id bigint, o_change_id bigint, o_until_us bigint)
  LANGUAGE plpgsql
  -- Planned once per connection: a custom plan costs more to make than to run.
  SET plan_cache_mode = force_generic_plan
  AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(l.id)
  FROM (SELECT DISTINCT unnest(senders || recipients) AS id ORDER BY 1) l;
  RETURN QUERY
  WITH input AS MATERIALIZED (
    SELECT t.*, tch_ts(t.at) AS at_ts, su.id IS NOT NULL AS s_known, ru.role AS r_role,
      t.h IS DISTINCT FROM '' AND NOT EXISTS (
        SELECT 1 FROM sessions ss WHERE ss.token_hash = t.h AND ss.user_id = t.s
          AND ss.expires_at > tch_ts(t.at)) AS no_session,
      t.h IS DISTINCT FROM '' AND EXISTS (
        SELECT 1 FROM restrictions ab WHERE ab.target_id = t.s AND ab.kind = 'ban'
          AND ab.scope_id IS NULL AND ab.lifted_at IS NULL) AS account_banned
    FROM unnest(hashes, senders, recipients, contents, at_us, recipient_roles, per_minute,
                per_hour)
      WITH ORDINALITY AS t(h, s, r, content, at, role, pm, ph, k)
    LEFT JOIN users su ON su.id = t.s
    LEFT JOIN users ru ON ru.id = t.r),
  checked AS MATERIALIZED (
    SELECT i.k, i.s, i.r, i.content, i.at_ts,
      CASE WHEN i.no_session THEN 'no-session'
           WHEN i.account_banned THEN 'account-banned'
           WHEN NOT i.s_known THEN 'unknown-sender'
           WHEN i.r_role IS NULL THEN 'unknown-user'
           WHEN i.role IS NULL THEN NULL
           WHEN i.r = i.s OR (i.role <> '' AND i.r_role <> i.role) THEN 'recipient-not-allowed'
           WHEN x.banned THEN 'banned'
           WHEN x.until IS NOT NULL THEN 'blocked' END AS refusal,
      x.until,
      greatest(CASE WHEN w.m > i.at_ts THEN w.m END,
               CASE WHEN w.h > i.at_ts THEN w.h END) AS wait_until
    FROM input i
    LEFT JOIN LATERAL (
      SELECT bool_or(kind = 'ban') AS banned, max(until) AS until FROM restrictions
      WHERE i.role IS NOT NULL AND target_id = i.s AND lifted_at IS NULL
        AND (scope_id IS NULL OR scope_id = i.r) AND (kind = 'ban' OR until > i.at_ts)) x
      ON true
    -- The sent_at of the sender's N-th latest message: inside the window, a new message
    -- would be the (N+1)-th in it. Only the latest hour (or minute) can matter.
    LEFT JOIN LATERAL (
      SELECT max(z.sent_at) FILTER (WHERE z.n = i.pm) + interval '60 seconds' AS m,
             max(z.sent_at) FILTER (WHERE z.n = i.ph) + interval '1 hour' AS h
      FROM (SELECT sent_at, row_number() OVER (ORDER BY sent_at DESC) AS n FROM messages
            WHERE (i.pm > 0 OR i.ph > 0) AND sender_id = i.s
              AND sent_at > i.at_ts - CASE WHEN i.ph > 0 THEN interval '1 hour'
                                           ELSE interval '60 seconds' END) z) w
      ON true),
  sent AS MATERIALIZED (
    SELECT c.k, c.s, c.r, c.content, c.at_ts, nextval('messages_id_seq') AS mid,
           nextval('changes_id_seq') AS cid
    FROM checked c WHERE c.refusal IS NULL AND c.wait_until IS NULL ORDER BY c.k),
  m AS (INSERT INTO messages (id, sender_id, recipient_id, content, sent_at)
        SELECT sent.mid, sent.s, sent.r, sent.content, sent.at_ts FROM sent),
  c AS (INSERT INTO changes (id, user_id, kind, message_id, created_at)
        SELECT sent.cid, sent.r, 'new_message', sent.mid, sent.at_ts FROM sent)
  SELECT coalesce(ch.refusal,
                  CASE WHEN ch.wait_until IS NOT NULL THEN 'rate-limited' ELSE 'sent' END),
         se.mid, se.cid,
         CASE WHEN ch.refusal = 'blocked' THEN tch_us(ch.until) ELSE tch_us(ch.wait_until) END
  FROM checked ch LEFT JOIN sent se ON se.k = ch.k ORDER BY ch.k;
END
$$;

-- The 7-argument version, for cores of the previous release during a rolling upgrade,
-- now runs the one above without session checks: one implementation of the rules.
CREATE OR REPLACE FUNCTION tch_send_batch(senders bigint[], recipients bigint[],
                                          contents text[], at_us bigint[],
                                          recipient_roles text[], per_minute bigint[],
                                          per_hour bigint[])
  RETURNS TABLE (o_outcome text, o_id bigint, o_change_id bigint, o_until_us bigint)
  LANGUAGE sql
  AS $$
  SELECT * FROM tch_send_batch(array_fill(''::text, ARRAY[coalesce(cardinality(senders), 0)]),
                               senders, recipients, contents, at_us, recipient_roles,
                               per_minute, per_hour)
$$;
