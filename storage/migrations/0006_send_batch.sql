-- Group commit of SEND_MSG (issue 8): one call checks and stores a batch of concurrent
-- sends in one statement, so in one transaction and one commit, with one round trip.
-- Element k of each array describes send k; one row is returned per send, in order:
--   o_outcome   'sent', 'unknown-user', 'recipient-not-allowed', 'banned', 'blocked'
--               or 'rate-limited'; nothing is written for a send that is not 'sent';
--   o_id        the new message's id ('sent');
--   o_change_id the id of the recipient's new change ('sent');
--   o_until_us  the end of the block ('blocked'), or when the send would fit in every
--               window ('rate-limited'), in microseconds since the epoch.
-- recipient_roles[k]: NULL skips the rules (only the rate limit applies); otherwise the
-- recipient must exist and differ from the sender, have this role unless it is '', and
-- no ban or block may be in force on the sender towards it.
-- per_minute[k], per_hour[k]: the sliding-window limits, 0 for none. The sends of one
-- batch do not see each other: a sender with a limit appears at most once in a batch
-- (the caller sees to it).
CREATE FUNCTION tch_send_batch(senders bigint[], recipients bigint[], contents text[],
                               at_us bigint[], recipient_roles text[], per_minute bigint[],
                               per_hour bigint[])
  RETURNS TABLE (o_outcome text, o_id bigint, o_change_id bigint, o_until_us bigint)
  LANGUAGE plpgsql
  -- Planned once per connection: a custom plan costs more to make than to run, and the
  -- estimates of the arrays would make the JIT compile it.
  SET plan_cache_mode = force_generic_plan
  SET jit = off
  AS $$
BEGIN
  -- Every sender (rate limit) and recipient (change order) of the batch, locked in id
  -- order by one statement: batches never deadlock. The statement below starts after it,
  -- so it sees every send committed by whoever held these rows before.
  PERFORM 1 FROM users WHERE id = ANY (senders || recipients) ORDER BY id
    FOR NO KEY UPDATE;
  RETURN QUERY
  WITH input AS MATERIALIZED (
    SELECT t.*, tch_ts(t.at) AS at_ts
    FROM unnest(senders, recipients, contents, at_us, recipient_roles, per_minute, per_hour)
      WITH ORDINALITY AS t(s, r, content, at, role, pm, ph, k)),
  checked AS MATERIALIZED (
    SELECT i.k, i.s, i.r, i.content, i.at_ts,
      CASE WHEN i.role IS NULL THEN NULL
           WHEN i.r_role IS NULL THEN 'unknown-user'
           WHEN i.r = i.s OR (i.role <> '' AND i.r_role <> i.role) THEN 'recipient-not-allowed'
           WHEN x.banned THEN 'banned'
           WHEN x.until IS NOT NULL THEN 'blocked' END AS refusal,
      x.until,
      greatest(CASE WHEN w.m > i.at_ts THEN w.m END,
               CASE WHEN w.h > i.at_ts THEN w.h END) AS wait_until
    FROM (SELECT input.*, (SELECT u.role FROM users u WHERE u.id = input.r) AS r_role
          FROM input) i
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
