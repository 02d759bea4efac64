-- An import job is leased by the server running it: `owner` is that server's instance id and
-- `lease_until` (microseconds) how long the job is its own unless renewed. A running job whose
-- lease ran out lost its server, and is marked failed by whichever server sees it first.
ALTER TABLE import_jobs ADD COLUMN owner TEXT;
ALTER TABLE import_jobs ADD COLUMN lease_until INTEGER;
