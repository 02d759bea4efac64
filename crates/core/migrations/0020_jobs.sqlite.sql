-- Durable background jobs: a row enqueued in the same transaction as the change that asks for it,
-- claimed by one server at a time with a lease (`owner`, `lease_until`, microseconds), retried
-- with backoff (`run_at`: not before) until `max_attempts`. `status`: queued, running, done,
-- failed or cancelled.
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  payload TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  run_at INTEGER NOT NULL,
  owner TEXT,
  lease_until INTEGER,
  progress_done INTEGER NOT NULL DEFAULT 0,
  progress_total INTEGER NOT NULL DEFAULT 0,
  result TEXT,
  last_error TEXT,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER
);
CREATE INDEX jobs_due ON jobs(run_at, id) WHERE status = 'queued';
CREATE INDEX jobs_leased ON jobs(lease_until) WHERE status = 'running';
CREATE INDEX jobs_kind ON jobs(kind, id);
-- A job's input file (an upload to import), kept until the job is done or cancelled.
CREATE TABLE job_files (
  job_id INTEGER PRIMARY KEY,
  data BLOB NOT NULL
);
-- The job that runs an import (none for imports started before jobs existed).
ALTER TABLE import_jobs ADD COLUMN job_id INTEGER;
