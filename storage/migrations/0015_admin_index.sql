-- The administrators, whom a core without an admin-api-key looks for every second (to
-- end the built-in administrator's sessions) and a key regeneration or LOGIN with the
-- admin key looks through: without this index, each look read the whole users table.
CREATE INDEX users_admin_idx ON users (id) WHERE role = 'admin';
