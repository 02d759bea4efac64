-- Discounts in the KPI layer: each order's discount and whether it had one, summed per day in
-- the order rollups. Orders with a discount are marked changed, so the refresher puts their
-- discounts in (the others contribute nothing).
ALTER TABLE an_order_days ADD COLUMN discounts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE an_order_days ADD COLUMN discounted BIGINT NOT NULL DEFAULT 0;
ALTER TABLE an_order_facts ADD COLUMN discounts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE an_order_facts ADD COLUMN discounted BIGINT NOT NULL DEFAULT 0;
INSERT INTO an_dirty_orders (order_id) SELECT id FROM orders WHERE discounts_minor <> 0;
