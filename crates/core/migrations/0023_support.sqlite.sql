-- The support desk: teams, tickets, the orders a ticket concerns, its conversation, and the
-- outbox of replies to send by email.
CREATE TABLE support_teams (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);
CREATE TABLE support_tickets (
  id INTEGER PRIMARY KEY,
  subject TEXT NOT NULL,
  channel TEXT NOT NULL,
  status TEXT NOT NULL,
  priority TEXT NOT NULL,
  kind TEXT,
  tags TEXT NOT NULL DEFAULT '[]',
  requester_email TEXT NOT NULL,
  requester_name TEXT,
  customer_id INTEGER,
  team_id INTEGER REFERENCES support_teams(id),
  assignee_id INTEGER REFERENCES users(id),
  merged_into INTEGER REFERENCES support_tickets(id),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  first_reply_at INTEGER,
  solved_at INTEGER,
  closed_at INTEGER
);
CREATE INDEX support_tickets_status ON support_tickets(status, id);
CREATE INDEX support_tickets_assignee ON support_tickets(assignee_id, status, id);
CREATE INDEX support_tickets_team ON support_tickets(team_id, status, id);
CREATE INDEX support_tickets_customer ON support_tickets(customer_id, id);
CREATE INDEX support_tickets_requester ON support_tickets(requester_email, id);
CREATE TABLE support_ticket_orders (
  ticket_id INTEGER NOT NULL REFERENCES support_tickets(id),
  order_id INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (ticket_id, order_id)
);
CREATE INDEX support_ticket_orders_order ON support_ticket_orders(order_id, ticket_id);
-- A message: from the customer (`customer`), an agent (`agent`, public reply or internal note)
-- or the desk itself (`system`). `message_id` is the email Message-ID it came or went with: a
-- provider's retry of the same inbound message finds it and stores nothing twice.
CREATE TABLE support_messages (
  id INTEGER PRIMARY KEY,
  ticket_id INTEGER NOT NULL REFERENCES support_tickets(id),
  author_kind TEXT NOT NULL,
  author_user_id INTEGER REFERENCES users(id),
  author_email TEXT,
  public INTEGER NOT NULL,
  body TEXT NOT NULL,
  message_id TEXT UNIQUE,
  created_at INTEGER NOT NULL
);
CREATE INDEX support_messages_ticket ON support_messages(ticket_id, id);
-- Replies to send by email, written in the reply's transaction; a worker claims due ones with a
-- lease and marks each sent once the SMTP server took it.
CREATE TABLE support_outbox (
  id INTEGER PRIMARY KEY,
  support_message_id INTEGER NOT NULL UNIQUE REFERENCES support_messages(id),
  to_address TEXT NOT NULL,
  subject TEXT NOT NULL,
  body TEXT NOT NULL,
  message_id TEXT NOT NULL,
  in_reply_to TEXT,
  refs TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT,
  sent_at INTEGER,
  created_at INTEGER NOT NULL
);
CREATE INDEX support_outbox_due ON support_outbox(status, next_attempt_at);
