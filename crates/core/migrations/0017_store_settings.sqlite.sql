-- Store settings: shipping rates per destination country with a free-above threshold, and each
-- order keeps the tax rate and shipping-tax rule it was priced with, so an edit re-prices it the
-- same way whatever the settings say later (NULL: an order from before, priced at the store rate).
ALTER TABLE shipping_rates ADD COLUMN countries TEXT NOT NULL DEFAULT '[]';
ALTER TABLE shipping_rates ADD COLUMN free_above_minor BIGINT;
ALTER TABLE orders ADD COLUMN tax_rate_ppm BIGINT;
ALTER TABLE orders ADD COLUMN shipping_taxed BIGINT;
