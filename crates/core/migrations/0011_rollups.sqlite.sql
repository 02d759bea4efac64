-- Rollups for the KPI dashboard, and the unit cost a line was sold at (its cost of goods stays
-- what it was when sold). Every rollup is recomputed whole-day from base rows, so it always equals
-- what the raw rows give; `backroom analytics rebuild` recomputes them all.
ALTER TABLE order_lines ADD COLUMN unit_cost_minor INTEGER;
UPDATE order_lines SET unit_cost_minor = (SELECT cost_minor FROM variants v WHERE v.id = order_lines.variant_id);

-- Orders whose KPI facts changed (placed, cancelled, edited, refunded, returned, imported, newly
-- attributed), written in the same transaction as the change; the refresher consumes them.
CREATE TABLE an_dirty_orders (
  seq INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL
);

-- Visitor ids as small numbers, for the per-day sets of visitors.
CREATE TABLE an_visitors (
  id INTEGER PRIMARY KEY,
  visitor_id TEXT NOT NULL UNIQUE
);
ALTER TABLE an_sessions ADD COLUMN visitor_key INTEGER NOT NULL DEFAULT 0;

CREATE TABLE an_session_days (
  day INTEGER NOT NULL,
  source TEXT NOT NULL,
  medium TEXT NOT NULL,
  campaign TEXT NOT NULL,
  device TEXT NOT NULL,
  country TEXT NOT NULL,
  sessions INTEGER NOT NULL,
  bounces INTEGER NOT NULL,
  duration INTEGER NOT NULL,
  converted INTEGER NOT NULL,
  carts INTEGER NOT NULL,
  abandoned INTEGER NOT NULL,
  product_views INTEGER NOT NULL,
  checkouts INTEGER NOT NULL,
  PRIMARY KEY (day, source, medium, campaign, device, country)
);

CREATE TABLE an_order_days (
  day INTEGER NOT NULL,
  currency TEXT NOT NULL,
  channel TEXT NOT NULL,
  source TEXT NOT NULL,
  medium TEXT NOT NULL,
  campaign TEXT NOT NULL,
  device TEXT NOT NULL,
  country TEXT NOT NULL,
  orders INTEGER NOT NULL,
  gross INTEGER NOT NULL,
  attributed INTEGER NOT NULL,
  units INTEGER NOT NULL,
  returned INTEGER NOT NULL,
  costed INTEGER NOT NULL,
  cogs INTEGER NOT NULL,
  new_customers INTEGER NOT NULL,
  refunds INTEGER NOT NULL,
  PRIMARY KEY (day, currency, channel, source, medium, campaign, device, country)
);

-- Per day, the distinct members of a set: `visitors` (visitor keys) and `customers:<currency>`
-- (customer ids with their order counts), delta-encoded.
CREATE TABLE an_day_sets (
  day INTEGER NOT NULL,
  kind TEXT NOT NULL,
  members TEXT NOT NULL,
  PRIMARY KEY (day, kind)
);

-- Each customer's first non-cancelled order, which makes them new on that day.
CREATE TABLE an_customers (
  customer_id INTEGER PRIMARY KEY,
  first_order_id INTEGER NOT NULL,
  first_day INTEGER NOT NULL
);

-- Derive everything again: sessions (for their visitor keys) and every order.
DELETE FROM an_sessions;
DELETE FROM an_purchases;
UPDATE analytics_state SET watermark = 0;
INSERT INTO an_dirty_orders (order_id) SELECT id FROM orders;
