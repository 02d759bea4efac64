-- Two indexes that placement kept up for queries that do not need them. Each order line put a
-- row into both, at the end of its variant's range: a page of each per line, 43% of the pages a
-- busy SQLite store wrote to its log (docs/BENCHMARKS.md, "Session 8"). Their only readers,
-- `backroom check` (live reservations per stock level) and the stock KPIs (units sold per
-- variant), now add up each table in one grouped pass instead of one level or variant at a time.
DROP INDEX reservations_live;
DROP INDEX order_lines_variant;
