-- Prices that include tax: an order keeps whether its prices (and its shipping price) held the
-- tax, and how much of that tax sits inside its merchandise, so net sales leave it out without
-- reading the lines (0 when the tax was added on top).
ALTER TABLE orders ADD COLUMN tax_included BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN included_tax_minor BIGINT NOT NULL DEFAULT 0;
-- The placeholder customer that imported guest orders (invoices with no customer) hang on: its
-- orders count in orders and sales but belong to no customer in the customer KPIs.
ALTER TABLE customers ADD COLUMN guest BIGINT NOT NULL DEFAULT 0;
UPDATE customers SET guest = 1 WHERE email_key IN ('guest@online-retail.invalid', 'guest@import.invalid');
-- An email's open rate follows the sends of a period to their outcome: each send looks up its
-- recipient's bounce and open in the campaign.
CREATE INDEX email_events_recipient ON email_events(campaign_id, recipient, type);
-- The destination country of an order, out of its address, for the KPIs' country breakdown.
ALTER TABLE orders ADD COLUMN ship_country TEXT NOT NULL DEFAULT '';
UPDATE orders SET ship_country = UPPER(COALESCE(shipping_address::json->>'country', ''));
-- Every order's rollup contribution is worked out again: by its destination country, and
-- without a customer for the guest placeholder's.
DELETE FROM an_dirty_orders;
INSERT INTO an_dirty_orders (order_id) SELECT id FROM orders;
-- A customer's saved addresses (JSON list, the default first): kept from their orders, and
-- edited by staff.
ALTER TABLE customers ADD COLUMN addresses TEXT NOT NULL DEFAULT '[]';
