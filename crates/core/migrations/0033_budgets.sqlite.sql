-- Budgets: a campaign's caps on ad spend, discount cost and uses over its dates (days are the
-- store's local days, the end exclusive), with the discount and uses its promotions have taken
-- (claimed exactly at placement, given back on cancel); operating budgets per month and
-- category, with the actual entered by hand for categories Backroom cannot measure; revenue and
-- order targets per month, for the store ('' channel) or one channel.
CREATE TABLE campaign_budgets (
  id INTEGER PRIMARY KEY,
  campaign TEXT NOT NULL,
  campaign_key TEXT NOT NULL UNIQUE,
  starts_on INTEGER NOT NULL,
  ends_on INTEGER NOT NULL,
  ad_spend_cap INTEGER,
  discount_cap INTEGER,
  usage_cap INTEGER,
  discount_spent INTEGER NOT NULL DEFAULT 0,
  uses INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE operating_budgets (
  month TEXT NOT NULL,
  category TEXT NOT NULL,
  amount_minor INTEGER NOT NULL,
  actual_minor INTEGER,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (month, category)
);
CREATE TABLE revenue_targets (
  month TEXT NOT NULL,
  channel TEXT NOT NULL,
  revenue_minor INTEGER NOT NULL,
  orders INTEGER,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (month, channel)
);
-- What each redemption took from its campaign's budget (none when the campaign had none).
ALTER TABLE promotion_redemptions ADD COLUMN budget_minor INTEGER;
