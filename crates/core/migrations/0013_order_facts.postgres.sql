-- Each order's contribution to the order rollups, per day (the day it was placed, and the days
-- of its refunds), so a changed order is taken out of its rollup rows and put back in by
-- difference instead of recomputing its days whole.
CREATE TABLE an_order_facts (
  order_id BIGINT NOT NULL,
  day BIGINT NOT NULL,
  currency TEXT NOT NULL,
  channel TEXT NOT NULL,
  source TEXT NOT NULL,
  medium TEXT NOT NULL,
  campaign TEXT NOT NULL,
  device TEXT NOT NULL,
  country TEXT NOT NULL,
  customer_id BIGINT NOT NULL,
  orders BIGINT NOT NULL,
  gross BIGINT NOT NULL,
  attributed BIGINT NOT NULL,
  units BIGINT NOT NULL,
  returned BIGINT NOT NULL,
  costed BIGINT NOT NULL,
  cogs BIGINT NOT NULL,
  new_customers BIGINT NOT NULL,
  refunds BIGINT NOT NULL,
  PRIMARY KEY (order_id, day)
);

-- Bumped by every write to the order rollups: a refresher works a chunk out from a read
-- snapshot and writes it only if no other refresher wrote in between.
ALTER TABLE analytics_state ADD COLUMN order_gen BIGINT NOT NULL DEFAULT 0;

-- The order rollups are made again, fact by fact.
DELETE FROM an_order_days;
DELETE FROM an_day_sets WHERE kind LIKE 'customers:%';
DELETE FROM an_customers;
DELETE FROM an_dirty_orders;
INSERT INTO an_dirty_orders (order_id) SELECT id FROM orders;
