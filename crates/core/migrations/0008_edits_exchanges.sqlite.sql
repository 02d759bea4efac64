-- Order edits, exchanges and the balance: what the customer owes is the total less the value of
-- units received back and less concessions (refunds beyond what was owed to the customer).
ALTER TABLE orders ADD COLUMN returned_minor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN adjustments_minor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN shipping_refunded INTEGER NOT NULL DEFAULT 0;
-- Endless aisle: the boutique that made the sale, whichever location ships it.
ALTER TABLE orders ADD COLUMN origin_location_id INTEGER REFERENCES locations(id);
ALTER TABLE order_lines ADD COLUMN refunded_quantity INTEGER NOT NULL DEFAULT 0;
ALTER TABLE order_lines ADD COLUMN returned_quantity INTEGER NOT NULL DEFAULT 0;
ALTER TABLE order_lines ADD COLUMN exchange_return_id INTEGER REFERENCES returns(id);
ALTER TABLE refunds ADD COLUMN settled_minor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE refunds ADD COLUMN lines TEXT;
ALTER TABLE returns ADD COLUMN exchange INTEGER NOT NULL DEFAULT 0;
-- Reorder points per (SKU, location); low_since marks a level at or below its point, so the
-- inventory.low event is sent once per crossing.
ALTER TABLE inventory_levels ADD COLUMN reorder_point INTEGER;
ALTER TABLE inventory_levels ADD COLUMN reorder_quantity INTEGER;
ALTER TABLE inventory_levels ADD COLUMN lead_time_days INTEGER;
ALTER TABLE inventory_levels ADD COLUMN low_since INTEGER;
-- Where a SKU sits in a location (aisle, shelf, bin), so pick lists walk the floor in order.
ALTER TABLE inventory_levels ADD COLUMN bin TEXT;
CREATE INDEX inventory_levels_reorder ON inventory_levels(location_id, variant_id) WHERE reorder_point IS NOT NULL;
