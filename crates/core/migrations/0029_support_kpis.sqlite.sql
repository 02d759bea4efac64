-- Service-level outcomes for the KPIs: each target (first reply, next reply, resolution) a
-- ticket met or missed, written when the reply or solve that fulfils it happens; and an index
-- for the status changes of a period.
CREATE TABLE support_sla_outcomes (
  id INTEGER PRIMARY KEY,
  ticket_id INTEGER NOT NULL REFERENCES support_tickets(id),
  metric TEXT NOT NULL,
  due_at INTEGER NOT NULL,
  at INTEGER NOT NULL,
  met INTEGER NOT NULL
);
CREATE INDEX support_sla_outcomes_at ON support_sla_outcomes(at);
CREATE INDEX support_status_changes_at ON support_status_changes(at);
CREATE INDEX support_csat_rated ON support_csat(rated_at);
-- A ticket imported from a history keeps the reference it had there: importing it again finds it.
ALTER TABLE support_tickets ADD COLUMN external_ref TEXT;
CREATE UNIQUE INDEX support_tickets_external_ref ON support_tickets(external_ref);
-- The workload and team loads read unsolved tickets from an index alone, and the week's solved
-- ones from their solve time.
CREATE INDEX support_tickets_unsolved_load ON support_tickets(status, assignee_id, priority, due_at);
CREATE INDEX support_tickets_member_load ON support_tickets(assignee_id, status, priority);
CREATE INDEX support_tickets_solved ON support_tickets(solved_at);
-- The report reads each ticket's public agent replies from an index alone.
CREATE INDEX support_messages_replies ON support_messages(ticket_id, author_kind, public, created_at);
