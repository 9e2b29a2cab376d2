-- The send path made cheaper (issue 8). Each step was measured with pgbench and
-- pg_stat_statements on a private cluster on tmpfs; the figures are per call of the
-- statement named, PostgreSQL 15 on this project's 2-CPU machine.
--
-- 1. tch_ts and tch_us are STABLE, as their bodies are (timestamptz arithmetic and
--    extract depend on the TimeZone setting in general). Declared IMMUTABLE, they could
--    not be inlined, so every statement that called them parsed and planned them as SQL
--    functions again: about 65 us of a lone send and of a session look-up.
ALTER FUNCTION tch_ts(bigint) STABLE;
ALTER FUNCTION tch_us(timestamptz) STABLE;

-- 2. No foreign keys on the two tables every send writes: their checks ran as four
--    triggers per message, each a look-up that locks a row, about 55 us per message
--    (40 % of the batch statement). What they guarded holds without them: no statement
--    deletes a user or a message (a deleted message is only marked), tch_send_batch
--    checks that the sender and the recipient exist, and a change is written by the
--    transaction that writes or locks its message. The other tables keep theirs.
ALTER TABLE changes DROP CONSTRAINT changes_user_id_fkey,
  DROP CONSTRAINT changes_message_id_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_sender_id_fkey,
  DROP CONSTRAINT messages_recipient_id_fkey;

-- 3. Writers of `changes` serialize per recipient (and a rate-limited sender per sender)
--    with a transaction-level advisory lock whose key is the user's id, in place of a row
--    lock on users: the row lock wrote the users row (a WAL record and a dirty page per
--    user per batch), the advisory lock lives in memory only. Same guarantee as before:
--    taken in ascending id order by one statement, released at commit, and the
--    statements after it see every transaction that held it before. Keys are user ids
--    (bigint form); the only other advisory lock, the migrations' (storage/migrations.cc),
--    has a key no user id reaches (0x7463686174, about 5 x 10^11).
--
-- tch_send_batch keeps its signature and its outcomes (migration 0006), plus
-- 'unknown-sender' for a sender id that names no user (the caller reports an internal
-- error for that send alone), and 'unknown-user' now also when the rules are skipped.
-- It reads each sender's and recipient's users row once, by primary key. Its SET jit is
-- gone: the core turns JIT off on its connections (storage/pg_store.cc).
CREATE OR REPLACE FUNCTION tch_send_batch(senders bigint[], recipients bigint[],
                                          contents text[], at_us bigint[],
                                          recipient_roles text[], per_minute bigint[],
                                          per_hour bigint[])
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
    SELECT t.*, tch_ts(t.at) AS at_ts, su.id IS NOT NULL AS s_known, ru.role AS r_role
    FROM unnest(senders, recipients, contents, at_us, recipient_roles, per_minute, per_hour)
      WITH ORDINALITY AS t(s, r, content, at, role, pm, ph, k)
    LEFT JOIN users su ON su.id = t.s
    LEFT JOIN users ru ON ru.id = t.r),
  checked AS MATERIALIZED (
    SELECT i.k, i.s, i.r, i.content, i.at_ts,
      CASE WHEN NOT i.s_known THEN 'unknown-sender'
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
