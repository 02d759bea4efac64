-- Click and collect: the boutique an order is collected from, its deadline, and the handover.
ALTER TABLE orders ADD COLUMN pickup_location_id BIGINT REFERENCES locations(id);
ALTER TABLE orders ADD COLUMN pickup_deadline BIGINT;
ALTER TABLE orders ADD COLUMN picked_up_at BIGINT;
ALTER TABLE orders ADD COLUMN picked_up_by TEXT;
ALTER TABLE channels ADD COLUMN pickup_hold_hours BIGINT NOT NULL DEFAULT 72;
-- Partial: only orders waiting for pickup carry an entry, so placing an order pays nothing for it.
CREATE INDEX orders_pickup_deadline ON orders(pickup_deadline) WHERE fulfillment_status = 'ready_for_pickup';
