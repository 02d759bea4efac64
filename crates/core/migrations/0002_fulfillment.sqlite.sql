-- Shipments of order lines from one location, and refunds.
CREATE TABLE fulfillments (
  id INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL REFERENCES orders(id),
  location_id INTEGER NOT NULL REFERENCES locations(id),
  status TEXT NOT NULL,
  carrier TEXT,
  service TEXT,
  tracking_number TEXT,
  tracking_url TEXT,
  created_by TEXT NOT NULL,
  shipped_at INTEGER NOT NULL,
  delivered_at INTEGER
);
CREATE INDEX fulfillments_order ON fulfillments(order_id);
CREATE TABLE fulfillment_lines (
  id INTEGER PRIMARY KEY,
  fulfillment_id INTEGER NOT NULL REFERENCES fulfillments(id),
  order_line_id INTEGER NOT NULL REFERENCES order_lines(id),
  quantity INTEGER NOT NULL
);
CREATE INDEX fulfillment_lines_fulfillment ON fulfillment_lines(fulfillment_id);
CREATE INDEX fulfillment_lines_line ON fulfillment_lines(order_line_id);
CREATE TABLE refunds (
  id INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL REFERENCES orders(id),
  amount_minor INTEGER NOT NULL,
  currency TEXT NOT NULL,
  reason TEXT NOT NULL,
  note TEXT,
  actor TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX refunds_order ON refunds(order_id);
ALTER TABLE orders ADD COLUMN refunded_minor INTEGER NOT NULL DEFAULT 0;
