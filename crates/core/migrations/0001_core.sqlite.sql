-- Backroom core schema (SQLite). Times are microseconds since the Unix epoch, UTC. Money is integer
-- minor units; the currency is the store's (settings.currency) and is copied onto every order.
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);

CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  email TEXT NOT NULL,
  email_key TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  password_hash TEXT,
  active INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL
);
CREATE TABLE api_tokens (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  revoked_at INTEGER
);

CREATE TABLE products (
  id INTEGER PRIMARY KEY,
  handle TEXT NOT NULL UNIQUE,
  title TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  vendor TEXT NOT NULL DEFAULT '',
  product_type TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '[]',
  options TEXT NOT NULL DEFAULT '[]',
  image_urls TEXT NOT NULL DEFAULT '[]',
  status TEXT NOT NULL,
  seo_title TEXT,
  seo_description TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX products_title ON products(title, id);
CREATE INDEX products_updated ON products(updated_at, id);

CREATE TABLE variants (
  id INTEGER PRIMARY KEY,
  product_id INTEGER NOT NULL REFERENCES products(id),
  sku TEXT NOT NULL UNIQUE,
  title TEXT NOT NULL,
  option1 TEXT,
  option2 TEXT,
  option3 TEXT,
  price_minor INTEGER NOT NULL,
  compare_at_minor INTEGER,
  cost_minor INTEGER,
  weight_grams INTEGER,
  barcode TEXT,
  inventory_policy TEXT NOT NULL,
  position INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX variants_product ON variants(product_id, position);

CREATE TABLE locations (
  id INTEGER PRIMARY KEY,
  code TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  ships_online INTEGER NOT NULL,
  offers_pickup INTEGER NOT NULL,
  sells_in_store INTEGER NOT NULL,
  priority INTEGER NOT NULL,
  latitude REAL,
  longitude REAL,
  postal_code TEXT,
  country TEXT,
  active INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE channels (
  id INTEGER PRIMARY KEY,
  code TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE channel_locations (
  channel_id INTEGER NOT NULL REFERENCES channels(id),
  location_id INTEGER NOT NULL REFERENCES locations(id),
  PRIMARY KEY (channel_id, location_id)
);
CREATE TABLE channel_buffers (
  channel_id INTEGER NOT NULL REFERENCES channels(id),
  variant_id INTEGER NOT NULL REFERENCES variants(id),
  quantity INTEGER NOT NULL,
  PRIMARY KEY (channel_id, variant_id)
);

CREATE TABLE inventory_levels (
  variant_id INTEGER NOT NULL REFERENCES variants(id),
  location_id INTEGER NOT NULL REFERENCES locations(id),
  on_hand INTEGER NOT NULL DEFAULT 0,
  reserved INTEGER NOT NULL DEFAULT 0,
  unavailable INTEGER NOT NULL DEFAULT 0,
  incoming INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (variant_id, location_id)
);
CREATE INDEX inventory_levels_location ON inventory_levels(location_id, variant_id);

CREATE TABLE inventory_ledger (
  id INTEGER PRIMARY KEY,
  variant_id INTEGER NOT NULL,
  location_id INTEGER NOT NULL,
  on_hand_delta INTEGER NOT NULL,
  unavailable_delta INTEGER NOT NULL,
  reason TEXT NOT NULL,
  actor TEXT NOT NULL,
  reference_type TEXT,
  reference_id INTEGER,
  note TEXT,
  created_at INTEGER NOT NULL,
  FOREIGN KEY (variant_id, location_id) REFERENCES inventory_levels(variant_id, location_id)
);
CREATE INDEX inventory_ledger_level ON inventory_ledger(variant_id, location_id, id);

CREATE TABLE customers (
  id INTEGER PRIMARY KEY,
  email TEXT NOT NULL,
  email_key TEXT NOT NULL UNIQUE,
  first_name TEXT NOT NULL DEFAULT '',
  last_name TEXT NOT NULL DEFAULT '',
  phone TEXT,
  accepts_marketing INTEGER NOT NULL DEFAULT 0,
  marketing_consent_at INTEGER,
  marketing_consent_source TEXT,
  acquisition_source TEXT,
  tags TEXT NOT NULL DEFAULT '[]',
  note TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  number INTEGER NOT NULL UNIQUE,
  channel_id INTEGER NOT NULL REFERENCES channels(id),
  customer_id INTEGER NOT NULL REFERENCES customers(id),
  currency TEXT NOT NULL,
  status TEXT NOT NULL,
  payment_status TEXT NOT NULL,
  fulfillment_status TEXT NOT NULL,
  subtotal_minor INTEGER NOT NULL,
  discounts_minor INTEGER NOT NULL,
  shipping_minor INTEGER NOT NULL,
  tax_minor INTEGER NOT NULL,
  total_minor INTEGER NOT NULL,
  paid_minor INTEGER NOT NULL DEFAULT 0,
  shipping_method TEXT NOT NULL,
  shipping_address TEXT NOT NULL,
  note TEXT,
  sourcing_strategy TEXT NOT NULL,
  sourcing_reason TEXT NOT NULL,
  placed_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  cancelled_at INTEGER,
  cancel_reason TEXT,
  created_by INTEGER NOT NULL
);
CREATE INDEX orders_placed ON orders(placed_at, id);
CREATE INDEX orders_customer ON orders(customer_id, placed_at);
CREATE INDEX orders_channel ON orders(channel_id, placed_at);

CREATE TABLE order_lines (
  id INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL REFERENCES orders(id),
  line_no INTEGER NOT NULL,
  variant_id INTEGER NOT NULL REFERENCES variants(id),
  sku TEXT NOT NULL,
  title TEXT NOT NULL,
  quantity INTEGER NOT NULL,
  unit_price_minor INTEGER NOT NULL,
  discount_minor INTEGER NOT NULL,
  tax_minor INTEGER NOT NULL
);
CREATE INDEX order_lines_order ON order_lines(order_id, line_no);
CREATE INDEX order_lines_variant ON order_lines(variant_id);

CREATE TABLE reservations (
  id INTEGER PRIMARY KEY,
  variant_id INTEGER NOT NULL,
  location_id INTEGER NOT NULL,
  order_id INTEGER NOT NULL REFERENCES orders(id),
  order_line_id INTEGER NOT NULL REFERENCES order_lines(id),
  quantity INTEGER NOT NULL,
  backordered INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  released_at INTEGER,
  release_reason TEXT,
  FOREIGN KEY (variant_id, location_id) REFERENCES inventory_levels(variant_id, location_id)
);
CREATE INDEX reservations_live ON reservations(variant_id, location_id) WHERE released_at IS NULL;
CREATE INDEX reservations_order ON reservations(order_id);

CREATE TABLE order_events (
  id INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL REFERENCES orders(id),
  kind TEXT NOT NULL,
  message TEXT NOT NULL,
  actor TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX order_events_order ON order_events(order_id, id);

CREATE TABLE payments (
  id INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL REFERENCES orders(id),
  kind TEXT NOT NULL,
  amount_minor INTEGER NOT NULL,
  currency TEXT NOT NULL,
  reference TEXT,
  actor TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX payments_order ON payments(order_id);

CREATE TABLE idempotency_keys (
  principal_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  order_id INTEGER,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (principal_id, key)
);

CREATE TABLE transfers (
  id INTEGER PRIMARY KEY,
  from_location_id INTEGER NOT NULL REFERENCES locations(id),
  to_location_id INTEGER NOT NULL REFERENCES locations(id),
  status TEXT NOT NULL,
  note TEXT,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  shipped_at INTEGER,
  received_at INTEGER,
  updated_at INTEGER NOT NULL
);
CREATE TABLE transfer_lines (
  id INTEGER PRIMARY KEY,
  transfer_id INTEGER NOT NULL REFERENCES transfers(id),
  variant_id INTEGER NOT NULL REFERENCES variants(id),
  sku TEXT NOT NULL,
  quantity INTEGER NOT NULL,
  received_quantity INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX transfer_lines_transfer ON transfer_lines(transfer_id);

CREATE TABLE shipping_rates (
  code TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  price_minor INTEGER NOT NULL
);

CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY,
  actor_user_id INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  entity_type TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  changes TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX audit_log_entity ON audit_log(entity_type, entity_id, id);

INSERT INTO settings (key, value) VALUES ('store_name', 'My store'), ('currency', 'USD'), ('tax_rate_bp', '0'), ('timezone', 'UTC');
INSERT INTO shipping_rates (code, name, price_minor) VALUES ('standard', 'Standard', 0), ('express', 'Express', 0), ('pickup', 'Pickup in store', 0);
INSERT INTO counters (name, value) VALUES ('order_number', 1000);
