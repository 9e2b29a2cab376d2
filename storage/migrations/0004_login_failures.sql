-- Failed LOGINs per client IP, for the brute-force limit (max-failed-logins-per-minute).
-- Rows older than an hour are deleted as new ones arrive.
CREATE TABLE login_failures (
  ip text NOT NULL,
  at timestamptz NOT NULL
);
CREATE INDEX login_failures_ip_idx ON login_failures (ip, at);
CREATE INDEX login_failures_at_idx ON login_failures (at);
