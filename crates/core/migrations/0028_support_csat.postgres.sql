-- Satisfaction: a survey per solved ticket, reached by a link whose token is stored hashed;
-- the rating (`good` or `bad`) and comment the customer gave. A reply mailed when the ticket is
-- solved carries the survey's token until it is sent.
CREATE TABLE support_csat (
  ticket_id BIGINT PRIMARY KEY REFERENCES support_tickets(id),
  token_hash TEXT NOT NULL UNIQUE,
  rating TEXT,
  comment TEXT,
  created_at BIGINT NOT NULL,
  rated_at BIGINT
);
ALTER TABLE support_outbox ADD COLUMN csat_token TEXT;
