-- Order edits, exchanges and the balance: what the customer owes is the total less the value of
-- units received back and less concessions (refunds beyond what was owed to the customer).
ALTER TABLE orders ADD COLUMN returned_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN adjustments_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN shipping_refunded BOOLEAN NOT NULL DEFAULT FALSE;
-- Endless aisle: the boutique that made the sale, whichever location ships it.
ALTER TABLE orders ADD COLUMN origin_location_id BIGINT REFERENCES locations(id);
ALTER TABLE order_lines ADD COLUMN refunded_quantity BIGINT NOT NULL DEFAULT 0;
ALTER TABLE order_lines ADD COLUMN returned_quantity BIGINT NOT NULL DEFAULT 0;
ALTER TABLE order_lines ADD COLUMN exchange_return_id BIGINT REFERENCES returns(id);
ALTER TABLE refunds ADD COLUMN settled_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE refunds ADD COLUMN lines TEXT;
ALTER TABLE returns ADD COLUMN exchange BOOLEAN NOT NULL DEFAULT FALSE;
-- Reorder points per (SKU, location); low_since marks a level at or below its point, so the
-- inventory.low event is sent once per crossing.
ALTER TABLE inventory_levels ADD COLUMN reorder_point BIGINT;
ALTER TABLE inventory_levels ADD COLUMN reorder_quantity BIGINT;
ALTER TABLE inventory_levels ADD COLUMN lead_time_days BIGINT;
ALTER TABLE inventory_levels ADD COLUMN low_since BIGINT;
-- Where a SKU sits in a location (aisle, shelf, bin), so pick lists walk the floor in order.
ALTER TABLE inventory_levels ADD COLUMN bin TEXT;
CREATE INDEX inventory_levels_reorder ON inventory_levels(location_id, variant_id) WHERE reorder_point IS NOT NULL;
