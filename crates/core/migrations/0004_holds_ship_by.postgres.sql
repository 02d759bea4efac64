-- Holds stop an order from shipping until released; the ship-by time comes from the channel's
-- handling time and drives the late and at-risk lists.
ALTER TABLE orders ADD COLUMN hold_reason TEXT;
ALTER TABLE orders ADD COLUMN hold_note TEXT;
ALTER TABLE orders ADD COLUMN held_at BIGINT;
ALTER TABLE orders ADD COLUMN ship_by BIGINT;
ALTER TABLE channels ADD COLUMN handling_hours BIGINT NOT NULL DEFAULT 48;
CREATE INDEX orders_ship_by ON orders(ship_by, id);
