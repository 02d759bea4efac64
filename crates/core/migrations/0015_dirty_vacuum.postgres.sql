-- The dirty-order list is a queue: every changed order is inserted, then deleted once the rollups
-- have it. Reports check it before every run, so its dead rows must not pile up: after a bulk
-- change (an import, a rebuild: a million entries) PostgreSQL's default (vacuum at 20% dead rows
-- of the table's size) left a million dead rows that each check scanned, adding about 30 ms to
-- every report until autovacuum came by. Vacuum it after a fixed number of changes instead.
ALTER TABLE an_dirty_orders SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000, autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 5000);
