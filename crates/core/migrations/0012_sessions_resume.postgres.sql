-- Sessions continue from their stored sums, so events need no index by visitor (which made every
-- ingested event a random write into a large index): the refresher reads a chunk's new events by
-- sequence, and only late arrivals by time.
DROP INDEX events_visitor;
ALTER TABLE an_sessions ADD COLUMN end_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE an_sessions ADD COLUMN utm_campaign TEXT;
DELETE FROM an_sessions;
DELETE FROM an_purchases;
DELETE FROM an_session_days;
DELETE FROM an_order_days;
DELETE FROM an_day_sets;
DELETE FROM an_customers;
UPDATE analytics_state SET watermark = 0;
DELETE FROM an_dirty_orders;
INSERT INTO an_dirty_orders (order_id) SELECT id FROM orders;
