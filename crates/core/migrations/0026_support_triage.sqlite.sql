-- Triage rules: conditions on a new ticket (words in its text, its channel, the requester's
-- lifetime value, open or late orders) and what they set (priority, team, tags), tried in order.
CREATE TABLE support_triage_rules (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  position INTEGER NOT NULL,
  conditions TEXT NOT NULL,
  actions TEXT NOT NULL,
  active INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
