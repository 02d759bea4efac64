-- Prices that include tax: an order keeps whether its prices (and its shipping price) held the
-- tax, and how much of that tax sits inside its merchandise, so net sales leave it out without
-- reading the lines (0 when the tax was added on top).
ALTER TABLE orders ADD COLUMN tax_included BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN included_tax_minor BIGINT NOT NULL DEFAULT 0;
