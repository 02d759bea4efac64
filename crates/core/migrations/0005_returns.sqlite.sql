-- Returns (RMAs): lines and reasons, then receipt and inspection with a disposition per line.
CREATE TABLE returns (
  id INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL REFERENCES orders(id),
  status TEXT NOT NULL,
  label_carrier TEXT,
  label_tracking TEXT,
  note TEXT,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  received_at INTEGER
);
CREATE INDEX returns_order ON returns(order_id);
CREATE TABLE return_lines (
  id INTEGER PRIMARY KEY,
  return_id INTEGER NOT NULL REFERENCES returns(id),
  order_line_id INTEGER NOT NULL REFERENCES order_lines(id),
  quantity INTEGER NOT NULL,
  reason TEXT NOT NULL,
  received_quantity INTEGER NOT NULL DEFAULT 0,
  restocked INTEGER NOT NULL DEFAULT 0,
  unavailable INTEGER NOT NULL DEFAULT 0,
  written_off INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX return_lines_return ON return_lines(return_id);
CREATE INDEX return_lines_line ON return_lines(order_line_id);
