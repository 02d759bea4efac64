-- Macros: canned replies with placeholders, and the status, priority and tags they set.
CREATE TABLE support_macros (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  body TEXT NOT NULL,
  status TEXT,
  priority TEXT,
  tags TEXT NOT NULL DEFAULT '[]',
  created_at INTEGER NOT NULL
);
