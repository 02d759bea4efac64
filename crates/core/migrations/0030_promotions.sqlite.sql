-- Promotions: what each takes off (a percentage in millionths of the amount, or a fixed amount),
-- its code (matched without case), its limits and window, and how often it was used; each
-- redemption by an order, given back when the order is cancelled.
CREATE TABLE promotions (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  percent_ppm INTEGER NOT NULL DEFAULT 0,
  amount_minor INTEGER NOT NULL DEFAULT 0,
  code TEXT,
  code_key TEXT UNIQUE,
  usage_limit INTEGER,
  usage_limit_per_customer INTEGER,
  times_used INTEGER NOT NULL DEFAULT 0,
  starts_at INTEGER,
  ends_at INTEGER,
  active INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE promotion_redemptions (
  id INTEGER PRIMARY KEY,
  promotion_id INTEGER NOT NULL REFERENCES promotions(id),
  order_id INTEGER NOT NULL,
  customer_id INTEGER NOT NULL,
  amount_minor INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  released_at INTEGER
);
CREATE INDEX promotion_redemptions_order ON promotion_redemptions(order_id);
CREATE INDEX promotion_redemptions_customer ON promotion_redemptions(promotion_id, customer_id);
