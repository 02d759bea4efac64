-- Each channel chooses how its orders are sourced.
ALTER TABLE channels ADD COLUMN sourcing_strategy TEXT NOT NULL DEFAULT 'fewest_shipments';
