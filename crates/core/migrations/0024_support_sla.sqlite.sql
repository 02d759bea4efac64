-- Service levels: business-hour calendars, policies per priority (optionally per channel or
-- tag) with targets for first reply, next reply and resolution, each ticket's status history
-- (the clock stops while it waits on the customer), and each ticket's running due times.
CREATE TABLE support_calendars (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  timezone TEXT NOT NULL,
  week TEXT NOT NULL,
  holidays TEXT NOT NULL DEFAULT '[]',
  created_at INTEGER NOT NULL
);
CREATE TABLE support_sla_policies (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  position INTEGER NOT NULL,
  priority TEXT NOT NULL,
  channel TEXT,
  tag TEXT,
  calendar_id INTEGER REFERENCES support_calendars(id),
  first_reply_minutes INTEGER,
  next_reply_minutes INTEGER,
  resolution_minutes INTEGER,
  active INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE support_status_changes (
  id INTEGER PRIMARY KEY,
  ticket_id INTEGER NOT NULL REFERENCES support_tickets(id),
  status TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX support_status_changes_ticket ON support_status_changes(ticket_id, id);
ALTER TABLE support_tickets ADD COLUMN sla_policy_id INTEGER REFERENCES support_sla_policies(id);
ALTER TABLE support_tickets ADD COLUMN awaiting_reply_since INTEGER;
ALTER TABLE support_tickets ADD COLUMN first_reply_due_at INTEGER;
ALTER TABLE support_tickets ADD COLUMN next_reply_due_at INTEGER;
ALTER TABLE support_tickets ADD COLUMN resolution_due_at INTEGER;
ALTER TABLE support_tickets ADD COLUMN due_at INTEGER;
CREATE INDEX support_tickets_due ON support_tickets(due_at);
INSERT INTO support_status_changes (ticket_id, status, at) SELECT id, status, updated_at FROM support_tickets;
