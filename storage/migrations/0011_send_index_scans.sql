-- The send statement reads by key only: each send's session, its sender's bans and
-- restrictions, both users. Its plan is generic (planned once per connection, see
-- 0010), made while those tables may be small, and then scanned them whole once per
-- send: with the bench's 64 sessions and 200 restrictions, about 264 rows read per
-- message. Index scans only, whatever the statistics said when the plan was made.
-- Measured with callgrind (user-space instructions per call, 300 000 messages; the
-- results, ids and locks of a mixed batch compared identical): 1 send 1 244k -> 1 029k,
-- 16 sends 6 842k -> 3 977k, 64 sends 24 721k -> 13 354k; with 20 000 users, the same
-- ratios. Other settings tried (no hash, merge or sort plans) changed nothing or made
-- batches dearer. The 7-argument overload runs this one, so it follows.
ALTER FUNCTION tch_send_batch(text[], bigint[], bigint[], text[], bigint[], text[], bigint[],
                              bigint[])
  SET enable_seqscan = off;
