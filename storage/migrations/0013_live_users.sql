-- Hints only for users someone is listening for (issue 8). A send's NOTIFY hint (0003,
-- sent after the commit) wakes the listening backend and every core's change feed, and
-- before this it was sent for every message, on the connection of the batch, after its
-- answers: one more statement per batch of sends, for recipients who mostly have no
-- live stream open. Each core now marks a user live when it opens a Subscribe stream
-- for them and again every 20 seconds while one stays open, for 60 seconds
-- (core-service/change_feed.h); tch_send_batch says for each send whether its
-- recipient is live, and the core hints those only. A lease that outlives its stream
-- costs a few hints; a send that races the opening of a stream and sees no lease is
-- still delivered by the feed's sweep, within about a second. Times are the
-- database's own (now()): the cores' clocks play no part.
-- Measured with tests/bench/ab 3 against the core before, whose bench sends all went
-- to users with no stream (2026-11-27): on disk, 64 connections 1.00 / 1.00 / 0.99x of
-- pgbench against 0.83 / 0.89 / 0.84x, and 8 connections faster in every round; on
-- tmpfs, lock-step p50 0.85 to 0.91 ms against 0.97 to 1.03.
CREATE TABLE live_users (
  user_id bigint PRIMARY KEY,
  until   timestamptz NOT NULL
);

-- 0012's statement, with one more column: o_live, the recipient of a send that was
-- stored has a lease in force. A new result type needs a new function; in this
-- migration's transaction no core sees it missing. Its settings are 0012's.
DROP FUNCTION tch_send_batch(text[], bigint[], bigint[], text[], bigint[], text[], bigint[],
                             bigint[]);
CREATE FUNCTION tch_send_batch(hashes text[], senders bigint[],
                                          recipients bigint[], contents text[],
                                          at_us bigint[], recipient_roles text[],
                                          per_minute bigint[], per_hour bigint[])
  RETURNS TABLE (o_outcome text, o_id bigint, o_change_id bigint, o_until_us bigint,
                 o_live boolean)
  LANGUAGE plpgsql
  -- Planned once per connection (0010); index scans only (0011); and nested loops only:
  -- a batch has at most 64 sends, and the generic plan otherwise joined the users table
  -- whole (a hash or merge join over users_pkey) to find a few recipients.
  SET plan_cache_mode = force_generic_plan
  SET enable_seqscan = off
  SET enable_hashjoin = off
  SET enable_mergejoin = off
  AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(l.id)
  FROM (SELECT DISTINCT unnest(senders || recipients) AS id ORDER BY 1) l;
  RETURN QUERY
  -- One row per send, in order k. The inner query (kept whole by OFFSET 0, so that its
  -- subqueries run once per send) decides; the ids are drawn above the sort, in order k,
  -- for the sends that pass, as 0010's `sent` did.
  WITH checked AS MATERIALIZED (
    SELECT q.k, q.s, q.r, q.content, q.at_ts, q.refusal, q.until, q.wait_until,
      CASE WHEN q.refusal IS NULL AND q.wait_until IS NULL
           THEN nextval('messages_id_seq') END AS mid,
      CASE WHEN q.refusal IS NULL AND q.wait_until IS NULL
           THEN nextval('changes_id_seq') END AS cid
    FROM (
      SELECT t.k, t.s, t.r, t.content, tch_ts(t.at) AS at_ts,
        CASE WHEN t.h IS DISTINCT FROM '' AND NOT EXISTS (
                    SELECT 1 FROM sessions ss WHERE ss.token_hash = t.h AND ss.user_id = t.s
                      AND ss.expires_at > tch_ts(t.at)) THEN 'no-session'
             WHEN t.h IS DISTINCT FROM '' AND EXISTS (
                    SELECT 1 FROM restrictions ab WHERE ab.target_id = t.s AND ab.kind = 'ban'
                      AND ab.scope_id IS NULL AND ab.lifted_at IS NULL) THEN 'account-banned'
             WHEN su.id IS NULL THEN 'unknown-sender'
             WHEN ru.role IS NULL THEN 'unknown-user'
             WHEN t.role IS NULL THEN NULL
             WHEN t.r = t.s OR (t.role <> '' AND ru.role <> t.role)
               THEN 'recipient-not-allowed'
             WHEN x.banned THEN 'banned'
             WHEN x.until IS NOT NULL THEN 'blocked' END AS refusal,
        x.until,
        -- When the send would fit in every window; NULL without limits, where the
        -- subquery is not run at all. The sends of a batch do not see each other.
        CASE WHEN t.pm > 0 OR t.ph > 0 THEN (
          SELECT greatest(CASE WHEN w.m > tch_ts(t.at) THEN w.m END,
                          CASE WHEN w.h > tch_ts(t.at) THEN w.h END)
          FROM (SELECT max(z.sent_at) FILTER (WHERE z.n = t.pm) + interval '60 seconds' AS m,
                       max(z.sent_at) FILTER (WHERE z.n = t.ph) + interval '1 hour' AS h
                FROM (SELECT sent_at, row_number() OVER (ORDER BY sent_at DESC) AS n
                      FROM messages
                      WHERE sender_id = t.s
                        AND sent_at > tch_ts(t.at) - CASE WHEN t.ph > 0 THEN interval '1 hour'
                                                          ELSE interval '60 seconds' END) z) w)
        END AS wait_until
      FROM unnest(hashes, senders, recipients, contents, at_us, recipient_roles, per_minute,
                  per_hour)
        WITH ORDINALITY AS t(h, s, r, content, at, role, pm, ph, k)
      LEFT JOIN users su ON su.id = t.s
      LEFT JOIN users ru ON ru.id = t.r
      LEFT JOIN LATERAL (
        SELECT bool_or(kind = 'ban') AS banned, max(until) AS until FROM restrictions
        WHERE t.role IS NOT NULL AND target_id = t.s AND lifted_at IS NULL
          AND (scope_id IS NULL OR scope_id = t.r)
          AND (kind = 'ban' OR until > tch_ts(t.at))) x
        ON true OFFSET 0) q
    ORDER BY q.k),
  m AS (INSERT INTO messages (id, sender_id, recipient_id, content, sent_at)
        SELECT ch.mid, ch.s, ch.r, ch.content, ch.at_ts FROM checked ch
        WHERE ch.mid IS NOT NULL),
  c AS (INSERT INTO changes (id, user_id, kind, message_id, created_at)
        SELECT ch.cid, ch.r, 'new_message', ch.mid, ch.at_ts FROM checked ch
        WHERE ch.mid IS NOT NULL)
  SELECT coalesce(ch.refusal,
                  CASE WHEN ch.wait_until IS NOT NULL THEN 'rate-limited' ELSE 'sent' END),
         ch.mid, ch.cid,
         CASE WHEN ch.refusal = 'blocked' THEN tch_us(ch.until) ELSE tch_us(ch.wait_until) END,
         ch.cid IS NOT NULL AND EXISTS (SELECT 1 FROM live_users l
                                        WHERE l.user_id = ch.r AND l.until > now())
  FROM checked ch ORDER BY ch.k;
END
$$;

-- The 7-argument version, for cores of two releases ago: the same four columns as before.
CREATE OR REPLACE FUNCTION tch_send_batch(senders bigint[], recipients bigint[],
                                          contents text[], at_us bigint[],
                                          recipient_roles text[], per_minute bigint[],
                                          per_hour bigint[])
  RETURNS TABLE (o_outcome text, o_id bigint, o_change_id bigint, o_until_us bigint)
  LANGUAGE sql
  AS $$
  SELECT o_outcome, o_id, o_change_id, o_until_us
  FROM tch_send_batch(array_fill(''::text, ARRAY[coalesce(cardinality(senders), 0)]),
                      senders, recipients, contents, at_us, recipient_roles, per_minute,
                      per_hour)
$$;
