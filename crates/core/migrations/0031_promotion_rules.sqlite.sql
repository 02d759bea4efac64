-- Promotions grow: automatic or by code, what they come off (the order or its eligible lines),
-- their conditions, tiers and buy-X-get-Y terms (JSON in the engine's form, with ids), whether
-- they combine, and the campaign they belong to. Codes move to their own table (a promotion may
-- have a batch of single-use codes, each with its own limit); promotions.code and code_key are
-- no longer read. Each redemption notes its code and what it took off shipping. The generation
-- stamp changes with every definition, so servers know when their cached rules are stale; the
-- order keeps the reasons promotions it was offered did not apply.
ALTER TABLE promotions ADD COLUMN automatic INTEGER NOT NULL DEFAULT 0;
ALTER TABLE promotions ADD COLUMN target TEXT NOT NULL DEFAULT 'order';
ALTER TABLE promotions ADD COLUMN combines INTEGER NOT NULL DEFAULT 0;
ALTER TABLE promotions ADD COLUMN conditions TEXT NOT NULL DEFAULT '{}';
ALTER TABLE promotions ADD COLUMN tiers TEXT NOT NULL DEFAULT '[]';
ALTER TABLE promotions ADD COLUMN buy_x_get_y TEXT;
ALTER TABLE promotions ADD COLUMN campaign TEXT;
ALTER TABLE promotions ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE promotions SET updated_at = created_at;
CREATE INDEX promotions_live ON promotions(active, ends_at);
CREATE TABLE promotion_codes (
  id INTEGER PRIMARY KEY,
  promotion_id INTEGER NOT NULL REFERENCES promotions(id),
  code TEXT NOT NULL,
  code_key TEXT NOT NULL UNIQUE,
  usage_limit INTEGER,
  times_used INTEGER NOT NULL DEFAULT 0,
  batch TEXT,
  created_at INTEGER NOT NULL
);
CREATE INDEX promotion_codes_promotion ON promotion_codes(promotion_id, id);
INSERT INTO promotion_codes (promotion_id, code, code_key, times_used, created_at)
  SELECT id, code, code_key, times_used, created_at FROM promotions WHERE code IS NOT NULL;
ALTER TABLE promotion_redemptions ADD COLUMN code_id INTEGER;
ALTER TABLE promotion_redemptions ADD COLUMN shipping_minor INTEGER NOT NULL DEFAULT 0;
UPDATE promotion_redemptions SET code_id = (SELECT c.id FROM promotion_codes c WHERE c.promotion_id = promotion_redemptions.promotion_id);
CREATE INDEX promotion_redemptions_promotion ON promotion_redemptions(promotion_id, created_at);
CREATE TABLE promotion_generation (
  id INTEGER PRIMARY KEY,
  stamp TEXT NOT NULL
);
INSERT INTO promotion_generation (id, stamp) VALUES (1, lower(hex(randomblob(16))));
ALTER TABLE orders ADD COLUMN promotion_notes TEXT;
