-- Prices that include tax: an order keeps whether its prices (and its shipping price) held the
-- tax, and how much of that tax sits inside its merchandise, so net sales leave it out without
-- reading the lines (0 when the tax was added on top).
ALTER TABLE orders ADD COLUMN tax_included BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN included_tax_minor BIGINT NOT NULL DEFAULT 0;
-- The placeholder customer that imported guest orders (invoices with no customer) hang on: its
-- orders count in orders and sales but belong to no customer in the customer KPIs.
ALTER TABLE customers ADD COLUMN guest BIGINT NOT NULL DEFAULT 0;
UPDATE customers SET guest = 1 WHERE email_key IN ('guest@online-retail.invalid', 'guest@import.invalid');
-- Their orders' rollup contributions are worked out again without a customer.
INSERT INTO an_dirty_orders (order_id)
  SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.guest = 1;
