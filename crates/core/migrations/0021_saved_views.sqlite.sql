-- Saved list filters ("views") of each staff member: a name, the console list they belong to
-- (its path) and the query string they apply. A name is unique per member and list; saving one
-- again replaces its query.
CREATE TABLE saved_views (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  list TEXT NOT NULL,
  name TEXT NOT NULL,
  query TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (user_id, list, name)
);
