-- Email KPIs read a period's sends, bounces and opens by time (the day column follows the zone
-- at ingest; reports use ts): this index serves the range, and with the type, counts sends and
-- bounces without reading the rows.
CREATE INDEX email_events_ts ON email_events(ts, type);
