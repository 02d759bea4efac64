-- Assignment: each team's way of giving out tickets (`manual`, `round_robin`, `balanced`) and
-- where its round robin stands; its members, each available or away, with an optional cap on
-- the unsolved tickets they hold.
ALTER TABLE support_teams ADD COLUMN assignment TEXT NOT NULL DEFAULT 'manual';
ALTER TABLE support_teams ADD COLUMN last_assigned_id INTEGER;
CREATE TABLE support_team_members (
  team_id INTEGER NOT NULL REFERENCES support_teams(id),
  user_id INTEGER NOT NULL REFERENCES users(id),
  available INTEGER NOT NULL,
  capacity INTEGER,
  PRIMARY KEY (team_id, user_id)
);
