//! The job worker: claims due jobs from the durable queue (`backroom_core::jobs`), runs each
//! through its kind's handler while renewing its lease, and queues again the jobs of servers
//! that stopped. Runs beside the HTTP server; any number of servers may run one on the same
//! database (a claim skips jobs other servers hold).

use backroom_core::jobs::{self, Claimed};
use backroom_core::{Db, util::now_micros};
use std::time::Duration;

/// The kinds of job this worker runs.
pub const KINDS: &[&str] = &[backroom_core::imports::jobs::KIND];

#[derive(Clone, Debug)]
pub struct JobConfig {
    /// How often to look for due jobs when there were none.
    pub poll: Duration,
    /// How long a claimed job is this server's without a renewal.
    pub lease: Duration,
    /// How many jobs this server runs at once.
    pub slots: usize,
    /// A failed attempt's first retry waits this long; each later one twice as long.
    pub backoff_base: Duration,
    /// How often jobs whose lease ran out are looked for.
    pub recover_every: Duration,
}

impl Default for JobConfig {
    fn default() -> Self {
        JobConfig::new(Duration::from_secs(60), 2, Duration::from_secs(10))
    }
}

impl JobConfig {
    /// A worker whose leases last `lease` (renewed four times per lease, and looked for once
    /// per lease), running `slots` jobs at once, whose first retry waits `backoff_base`.
    pub fn new(lease: Duration, slots: usize, backoff_base: Duration) -> Self {
        JobConfig {
            poll: Duration::from_millis(250),
            lease,
            slots: slots.max(1),
            backoff_base,
            recover_every: lease.min(Duration::from_secs(60)),
        }
    }
    fn renew_every(&self) -> Duration {
        self.lease / 4
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Queues again (or fails) the jobs whose lease ran out, and records that on each kind's side,
/// in one transaction. Every server runs it at start-up and once per lease.
pub async fn recover(db: &Db) {
    let now = now_micros();
    let result = db
        .write(move |tx| {
            let lost = jobs::recover(tx, now)?;
            for j in &lost {
                if j.kind == backroom_core::imports::jobs::KIND {
                    backroom_core::imports::jobs::recovered(tx, j, now)?;
                }
            }
            Ok(lost)
        })
        .await;
    match result {
        Ok(lost) if !lost.is_empty() => {
            let ids: Vec<i64> = lost.iter().map(|j| j.id).collect();
            tracing::warn!(jobs = ?ids, "recovered jobs whose server stopped")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "recovering jobs failed"),
    }
}

/// Records on the kind's side a change made to a job by hand (retried, cancelled), in the
/// change's transaction.
pub fn changed(
    tx: &mut dyn backroom_core::Sql,
    job: &jobs::Job,
    now: i64,
) -> backroom_core::Result<()> {
    if job.kind == backroom_core::imports::jobs::KIND {
        backroom_core::imports::jobs::job_changed(tx, job, now)?;
    }
    Ok(())
}

/// Runs until the task is aborted.
pub async fn run(db: Db, cfg: JobConfig) {
    // Claims and recovery are the worker's own small units, on the background lane; the jobs
    // themselves (an import's batches) run on the request lanes, as a CLI import would.
    let work = db.clone();
    let db = db.background();
    let mut running = tokio::task::JoinSet::new();
    let mut last_recover = std::time::Instant::now();
    loop {
        if last_recover.elapsed() >= cfg.recover_every {
            last_recover = std::time::Instant::now();
            recover(&db).await;
        }
        // Fill the free slots with due jobs.
        let mut claimed_any = false;
        while running.len() < cfg.slots {
            let (owner, now, lease) = (jobs::instance_id(), now_micros(), micros(cfg.lease));
            match db
                .write(move |tx| jobs::claim(tx, KINDS, owner, now, lease))
                .await
            {
                Ok(Some(job)) => {
                    claimed_any = true;
                    let (work, cfg) = (work.clone(), cfg.clone());
                    running.spawn(async move { attempt(&work, &cfg, job).await });
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a job failed");
                    break;
                }
            }
        }
        if claimed_any {
            continue;
        }
        // Wait for a slot to free or for the next look.
        tokio::select! {
            Some(_) = running.join_next(), if !running.is_empty() => {}
            _ = tokio::time::sleep(cfg.poll) => {}
        }
    }
}

/// One attempt of `job`: its kind's handler runs while its lease is renewed.
async fn attempt(db: &Db, cfg: &JobConfig, job: Claimed) {
    let renewer = {
        let (db, job, every, lease) = (
            db.clone(),
            job.clone(),
            cfg.renew_every(),
            micros(cfg.lease),
        );
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let j = job.clone();
                match db
                    .write(move |tx| jobs::renew(tx, &j, now_micros(), lease))
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(
                            job.id = job.id,
                            "a job's lease was lost; its result will not count"
                        );
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(job.id = job.id, error = %e, "renewing a job's lease failed")
                    }
                }
            }
        })
    };
    let base = micros(cfg.backoff_base);
    let result = match job.kind.as_str() {
        backroom_core::imports::jobs::KIND => {
            backroom_core::imports::jobs::execute(db, &job, base).await
        }
        other => {
            let outcome = jobs::Outcome::Failed {
                error: format!("no worker runs jobs of kind {other}"),
                retry: false,
            };
            let j = job.clone();
            db.write(move |tx| jobs::finish(tx, &j, &outcome, now_micros(), base))
                .await
        }
    };
    renewer.abort();
    match result {
        Ok(next) => {
            tracing::info!(job.id = job.id, job.kind = %job.kind, attempt = job.attempt, ?next, "job attempt ended")
        }
        Err(e) => {
            tracing::warn!(job.id = job.id, job.kind = %job.kind, error = %e, "a job attempt could not be recorded")
        }
    }
}
