-- Storefront analytics: raw events (the truth), sessions and purchase attribution derived from them
-- by the refresher, ad spend and email campaigns. `day` columns are days since 1970-01-01 of the
-- local date in the store's time zone (analytics_state.timezone says which zone they were made in).
CREATE TABLE events (
  seq INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  visitor_id TEXT NOT NULL,
  ts INTEGER NOT NULL,
  path TEXT,
  referrer_host TEXT,
  utm_source TEXT,
  utm_medium TEXT,
  utm_campaign TEXT,
  device TEXT,
  country TEXT,
  order_number INTEGER,
  sku TEXT,
  search_query TEXT,
  received_at INTEGER NOT NULL
);
CREATE INDEX events_visitor ON events(visitor_id, ts, seq);
CREATE INDEX events_ts ON events(ts);

CREATE TABLE an_sessions (
  id INTEGER PRIMARY KEY,
  visitor_id TEXT NOT NULL,
  start_ts INTEGER NOT NULL,
  start_seq INTEGER NOT NULL,
  end_ts INTEGER NOT NULL,
  day INTEGER NOT NULL,
  events INTEGER NOT NULL,
  page_views INTEGER NOT NULL,
  product_views INTEGER NOT NULL,
  carts INTEGER NOT NULL,
  checkouts INTEGER NOT NULL,
  purchases INTEGER NOT NULL,
  landing_path TEXT NOT NULL,
  source TEXT NOT NULL,
  medium TEXT NOT NULL,
  campaign TEXT NOT NULL,
  device TEXT NOT NULL,
  country TEXT NOT NULL
);
CREATE INDEX an_sessions_visitor ON an_sessions(visitor_id, end_ts);
CREATE INDEX an_sessions_day ON an_sessions(day);

CREATE TABLE an_purchases (
  seq INTEGER PRIMARY KEY,
  order_number INTEGER NOT NULL,
  visitor_id TEXT NOT NULL,
  ts INTEGER NOT NULL,
  source TEXT NOT NULL,
  medium TEXT NOT NULL,
  campaign TEXT NOT NULL,
  device TEXT NOT NULL,
  country TEXT NOT NULL
);
CREATE INDEX an_purchases_order ON an_purchases(order_number);
CREATE INDEX an_purchases_visitor ON an_purchases(visitor_id, ts);

CREATE TABLE analytics_state (
  id INTEGER PRIMARY KEY,
  watermark INTEGER NOT NULL,
  timezone TEXT NOT NULL,
  window_days INTEGER NOT NULL
);

CREATE TABLE ad_spend (
  id INTEGER PRIMARY KEY,
  day INTEGER NOT NULL,
  source TEXT NOT NULL,
  medium TEXT NOT NULL,
  campaign TEXT NOT NULL,
  currency TEXT NOT NULL,
  amount_minor INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (day, source, campaign)
);

CREATE TABLE email_campaigns (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  utm_campaign TEXT,
  subject TEXT,
  created_at INTEGER NOT NULL
);
CREATE TABLE email_events (
  id INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE,
  campaign_id INTEGER NOT NULL REFERENCES email_campaigns(id),
  recipient TEXT NOT NULL,
  type TEXT NOT NULL,
  ts INTEGER NOT NULL,
  day INTEGER NOT NULL
);
CREATE INDEX email_events_campaign ON email_events(campaign_id, type);
CREATE INDEX email_events_day ON email_events(day);

-- The merchandise part of a refund (what net sales subtracts), set when the refund is made.
ALTER TABLE refunds ADD COLUMN merchandise_minor INTEGER NOT NULL DEFAULT 0;
UPDATE refunds SET merchandise_minor = (SELECT CASE WHEN o.total_minor > 0 THEN refunds.amount_minor * (o.subtotal_minor - o.discounts_minor) / o.total_minor ELSE 0 END FROM orders o WHERE o.id = refunds.order_id);
CREATE INDEX refunds_created ON refunds(created_at);
