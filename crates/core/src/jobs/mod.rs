//! Durable background jobs: the queue every area's background work goes through (imports today;
//! forecasts, erasures, scheduled reports and webhook fan-out as they come).
//!
//! A job is a row [`enqueue`]d in the same transaction as the change that asks for it, so it
//! exists exactly when the change does. A server [`claim`]s a due job with a lease (its
//! `owner`, the server's [`instance_id`], until `lease_until`), [`renew`]s the lease while it
//! works, and [`finish`]es it with what the attempt came to; the rules of what follows (retry
//! after a doubling backoff, or an end) are [`backroom_domain::jobs`]. A job whose lease ran
//! out lost its server: [`recover`] queues it again (or fails it when its attempts are spent),
//! and whichever server claims it next runs it again from its start, so a job's work must be
//! safe to repeat (every kind's is: see `imports::jobs`).
//!
//! Several servers may share one PostgreSQL database: a claim takes the oldest due job that no
//! other transaction holds (`FOR UPDATE SKIP LOCKED`), and a finish only counts when it comes
//! from the lease holder of that attempt, so a job is never run by two servers at once nor
//! finished twice. SQLite has one writer, so its claims are serial anyway.
//!
//! Jobs are seen and retried or cancelled by those who may change the settings (admin,
//! operations).
//!
//! The jobs platform owns the `jobs` and `job_files` tables and knows no area: what a job does
//! is its kind's, dispatched by the server's worker.

use crate::api::{Page, PageQuery};
use crate::db::{DbError, Dialect, Row, Sql};
use crate::util::{Filter, Keyset, keyset_page, opt_rfc3339, rfc3339};
use crate::{Ctx, Error, Result, audit, params};
use backroom_domain::jobs::{Attempt, Next, Status};
use backroom_domain::roles::Permission;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A job as the API and console show it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Job {
    pub id: i64,
    /// What the job does: `import`.
    pub kind: String,
    /// `queued`, `running`, `done`, `failed` or `cancelled`.
    pub status: String,
    /// Attempts made so far (the running one included).
    pub attempts: i64,
    pub max_attempts: i64,
    /// Not before this time (a queued job waiting for a retry).
    pub run_at: String,
    /// The server holding the job while it runs, or that ran its last attempt (its instance
    /// id), and until when its lease ran.
    pub owner: Option<String>,
    pub lease_until: Option<String>,
    pub progress_done: i64,
    pub progress_total: i64,
    /// The kind's own input (for an import, its id).
    pub payload: serde_json::Value,
    /// What a finished job produced, in its kind's terms.
    pub result: Option<serde_json::Value>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

crate::row! {
    /// A job as stored.
    struct JobRow {
        id: i64,
        kind: String,
        payload: String,
        status: String,
        attempts: i64,
        max_attempts: i64,
        run_at: i64,
        owner: Option<String>,
        lease_until: Option<i64>,
        progress_done: i64,
        progress_total: i64,
        result: Option<String>,
        last_error: Option<String>,
        created_by: String,
        created_at: i64,
        started_at: Option<i64>,
        finished_at: Option<i64>,
    }
}

const COLUMNS: &str = "id, kind, payload, status, attempts, max_attempts, run_at, owner, lease_until, progress_done, progress_total, result, last_error, created_by, created_at, started_at, finished_at";

fn json_of(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or(serde_json::Value::Null)
}

impl From<JobRow> for Job {
    fn from(r: JobRow) -> Job {
        Job {
            id: r.id,
            kind: r.kind,
            status: r.status,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            run_at: rfc3339(r.run_at),
            owner: r.owner,
            lease_until: opt_rfc3339(r.lease_until),
            progress_done: r.progress_done,
            progress_total: r.progress_total,
            payload: json_of(&r.payload),
            result: r.result.as_deref().map(json_of),
            last_error: r.last_error,
            created_by: r.created_by,
            created_at: rfc3339(r.created_at),
            started_at: opt_rfc3339(r.started_at),
            finished_at: opt_rfc3339(r.finished_at),
        }
    }
}

fn job_from(r: &Row) -> std::result::Result<Job, DbError> {
    Ok(<JobRow as crate::db::FromRow>::from_row(r)?.into())
}

/// This server process's id, random, drawn once: the `owner` of the jobs it runs.
pub fn instance_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| crate::util::random_hex(8))
}

/// A job to enqueue.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub kind: &'static str,
    pub payload: serde_json::Value,
    /// How many attempts a transient failure may take in all (at least 1).
    pub max_attempts: i64,
    /// The job's input file, kept with it until it is done.
    pub file: Option<Vec<u8>>,
}

/// Records a job, due now, in the caller's transaction: it exists exactly when the caller's
/// change commits. Returns its id.
pub fn enqueue(tx: &mut dyn Sql, ctx: &Ctx, job: NewJob) -> Result<i64> {
    let id: i64 = tx
        .query_one(
            "INSERT INTO jobs (kind, payload, status, max_attempts, run_at, created_by, created_at) VALUES ($1, $2, 'queued', $3, $4, $5, $4) RETURNING id",
            params![job.kind, job.payload.to_string(), job.max_attempts.max(1), ctx.now, ctx.actor.name.as_str()],
        )?
        .ok_or(Error::NotFound { entity: "job" })?
        .get("id")?;
    if let Some(data) = job.file {
        tx.exec(
            "INSERT INTO job_files (job_id, data) VALUES ($1, $2)",
            params![id, data],
        )?;
    }
    Ok(id)
}

/// A job claimed by this server for one attempt.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    /// This attempt's number, from 1.
    pub attempt: i64,
    pub max_attempts: i64,
    pub created_by: String,
    /// The server that holds it.
    pub owner: String,
}

/// Claims the oldest due queued job of one of `kinds` for `owner`, leased until `now + lease`;
/// `None` when there is none. Jobs other transactions are claiming are skipped, not waited for.
pub fn claim(
    tx: &mut dyn Sql,
    kinds: &[&str],
    owner: &str,
    now: i64,
    lease: i64,
) -> Result<Option<Claimed>> {
    let kinds: Vec<crate::Val> = kinds.iter().map(|k| crate::Val::from(*k)).collect();
    let (kinds_cond, kinds_val) = crate::db::in_list(tx.dialect(), "kind", 4, &kinds);
    let lock = match tx.dialect() {
        Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let sql = format!(
        "UPDATE jobs SET status = 'running', owner = $1, lease_until = $2, attempts = attempts + 1, started_at = COALESCE(started_at, $3), last_error = NULL \
         WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND run_at <= $3 AND {kinds_cond} ORDER BY run_at, id LIMIT 1{lock}) \
         RETURNING id, kind, payload, attempts, max_attempts, created_by"
    );
    let Some(r) = tx.query_one(
        &sql,
        params![owner, now.saturating_add(lease), now, kinds_val],
    )?
    else {
        return Ok(None);
    };
    Ok(Some(Claimed {
        id: r.get("id")?,
        kind: r.get("kind")?,
        payload: json_of(&r.get::<String>("payload")?),
        attempt: r.get("attempts")?,
        max_attempts: r.get("max_attempts")?,
        created_by: r.get("created_by")?,
        owner: owner.to_string(),
    }))
}

/// Extends the lease of `job`'s attempt; false when it is no longer this server's (its lease
/// ran out and another server took it, or it was cancelled).
pub fn renew(tx: &mut dyn Sql, job: &Claimed, now: i64, lease: i64) -> Result<bool> {
    Ok(tx.exec(
        "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND owner = $3 AND attempts = $4 AND status = 'running'",
        params![now.saturating_add(lease), job.id, job.owner.as_str(), job.attempt],
    )? == 1)
}

/// Records how far `job`'s attempt has come, in its kind's units.
pub fn progress(tx: &mut dyn Sql, job: &Claimed, done: i64, total: i64) -> Result<()> {
    tx.exec(
        "UPDATE jobs SET progress_done = $1, progress_total = $2 WHERE id = $3 AND owner = $4 AND attempts = $5 AND status = 'running'",
        params![done, total, job.id, job.owner.as_str(), job.attempt],
    )?;
    Ok(())
}

/// How an attempt ended, as its kind reports it.
#[derive(Clone, Debug)]
pub enum Outcome {
    Done(serde_json::Value),
    /// Failed; worth another attempt (`true`) or not.
    Failed {
        error: String,
        retry: bool,
    },
}

/// Ends `job`'s attempt as `outcome` says, in the caller's transaction (the kind's own record of
/// the outcome goes in the same one). Refused with `job_lease_lost` when the attempt is no
/// longer this server's: then another server has it, and nothing of this attempt is recorded.
pub fn finish(
    tx: &mut dyn Sql,
    job: &Claimed,
    outcome: &Outcome,
    now: i64,
    backoff_base: i64,
) -> Result<Next> {
    let how = match outcome {
        Outcome::Done(_) => Attempt::Succeeded,
        Outcome::Failed { retry: true, .. } => Attempt::FailedTransiently,
        Outcome::Failed { retry: false, .. } => Attempt::FailedPermanently,
    };
    let next = backroom_domain::jobs::after(how, job.attempt, job.max_attempts, now, backoff_base);
    let (result, error) = match outcome {
        Outcome::Done(v) => (Some(v.to_string()), None),
        Outcome::Failed { error, .. } => (None, Some(error.as_str())),
    };
    let (status, run_at, finished) = match next {
        Next::Done => (Status::Done, None, Some(now)),
        Next::RetryAt(at) => (Status::Queued, Some(at), None),
        Next::Failed => (Status::Failed, None, Some(now)),
    };
    let changed = tx.exec(
        "UPDATE jobs SET status = $1, run_at = COALESCE($2, run_at), finished_at = $3, result = $4, last_error = $5, owner = CASE WHEN $1 = 'queued' THEN NULL ELSE owner END, lease_until = CASE WHEN $1 = 'queued' THEN NULL ELSE lease_until END \
         WHERE id = $6 AND owner = $7 AND attempts = $8 AND status = 'running'",
        params![status.as_str(), run_at, finished, result, error, job.id, job.owner.as_str(), job.attempt],
    )?;
    if changed != 1 {
        return Err(Error::conflict(
            "job_lease_lost",
            format!(
                "job {} is no longer this server's: its lease ran out",
                job.id
            ),
        ));
    }
    if status == Status::Done {
        tx.exec("DELETE FROM job_files WHERE job_id = $1", params![job.id])?;
    }
    Ok(next)
}

/// A job whose server stopped, as [`recover`] left it.
#[derive(Clone, Debug)]
pub struct Recovered {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    /// Queued again (`true`) or failed, its attempts spent.
    pub requeued: bool,
}

/// What a job whose server stopped says.
pub const LOST: &str = "the server running this job stopped before it finished";

/// Queues again every running job whose lease ran out before `now` (its server stopped or lost
/// the database), to run at once, or fails it when its attempts are spent. A job whose server
/// still renews its lease is left alone. The caller records what each kind needs in the same
/// transaction.
pub fn recover(tx: &mut dyn Sql, now: i64) -> Result<Vec<Recovered>> {
    let rows = tx.query(
        "UPDATE jobs SET status = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END, \
           finished_at = CASE WHEN attempts < max_attempts THEN NULL ELSE $2 END, \
           run_at = $2, owner = NULL, lease_until = NULL, last_error = $1 \
         WHERE status = 'running' AND lease_until < $2 RETURNING id, kind, payload, status",
        params![LOST, now],
    )?;
    rows.iter()
        .map(|r| {
            Ok(Recovered {
                id: r.get("id")?,
                kind: r.get("kind")?,
                payload: json_of(&r.get::<String>("payload")?),
                requeued: r.get::<String>("status")? == "queued",
            })
        })
        .collect()
}

/// The input file of job `id`.
pub fn file(tx: &mut dyn Sql, id: i64) -> Result<Vec<u8>> {
    Ok(tx
        .query_one("SELECT data FROM job_files WHERE job_id = $1", params![id])?
        .ok_or(Error::NotFound { entity: "job file" })?
        .get("data")?)
}

pub fn get(tx: &mut dyn Sql, id: i64) -> Result<Job> {
    let r = tx
        .query_one(
            &format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"),
            params![id],
        )?
        .ok_or(Error::NotFound { entity: "job" })?;
    Ok(job_from(&r)?)
}

/// Which jobs to list.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct JobQuery {
    /// `queued`, `running`, `done`, `failed` or `cancelled`.
    pub status: Option<String>,
    /// A job kind, such as `import`.
    pub kind: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Jobs, newest first, paged.
pub fn page(tx: &mut dyn Sql, q: &JobQuery) -> Result<Page<Job>> {
    let mut filter = Filter::default();
    if let Some(s) = &q.status {
        let s = Status::parse(s).ok_or_else(|| {
            Error::invalid(
                "status",
                "must be queued, running, done, failed or cancelled",
            )
        })?;
        filter.add("status = ?", vec![s.as_str().into()]);
    }
    if let Some(k) = &q.kind {
        filter.add("kind = ?", vec![k.as_str().into()]);
    }
    keyset_page(
        tx,
        &format!("SELECT {COLUMNS} FROM jobs"),
        filter,
        &PageQuery {
            limit: q.limit,
            cursor: q.cursor.clone(),
        },
        Keyset::IdDesc,
        "id",
        job_from,
        |j| (String::new(), j.id),
    )
}

/// How many jobs are in each status, for the console's tabs and health.
pub fn counts(tx: &mut dyn Sql) -> Result<Vec<(String, i64)>> {
    tx.query(
        "SELECT status, COUNT(*) AS n FROM jobs GROUP BY status ORDER BY status",
        &[],
    )?
    .iter()
    .map(|r| Ok((r.get("status")?, r.get("n")?)))
    .collect()
}

/// Queues a failed job again, with a fresh set of attempts, to run at once. Refused with
/// `job_not_failed` unless it failed; a job whose input file is gone cannot be retried.
pub fn retry(tx: &mut dyn Sql, ctx: &Ctx, id: i64) -> Result<Job> {
    ctx.actor.require(Permission::SettingsWrite)?;
    let job = get(tx, id)?;
    if job.status != "failed" {
        return Err(Error::conflict(
            "job_not_failed",
            format!(
                "job {id} is {}: only a failed job can be retried",
                job.status
            ),
        ));
    }
    let changed = tx.exec(
        "UPDATE jobs SET status = 'queued', run_at = $1, max_attempts = attempts + $2, finished_at = NULL WHERE id = $3 AND status = 'failed'",
        params![ctx.now, (job.max_attempts).max(1), id],
    )?;
    if changed != 1 {
        return Err(Error::conflict(
            "job_not_failed",
            format!("job {id} changed meanwhile"),
        ));
    }
    audit::record(
        tx,
        ctx,
        "job.retried",
        "job",
        id,
        serde_json::json!({"kind": job.kind, "attempts": job.attempts}),
    )?;
    get(tx, id)
}

/// Cancels a queued job (one waiting to start or to retry); refused with `job_not_queued` for
/// one that runs or has ended. Its input file is dropped.
pub fn cancel(tx: &mut dyn Sql, ctx: &Ctx, id: i64) -> Result<Job> {
    ctx.actor.require(Permission::SettingsWrite)?;
    let job = get(tx, id)?;
    let changed = tx.exec(
        "UPDATE jobs SET status = 'cancelled', finished_at = $1 WHERE id = $2 AND status = 'queued'",
        params![ctx.now, id],
    )?;
    if changed != 1 {
        return Err(Error::conflict(
            "job_not_queued",
            format!(
                "job {id} is {}: only a queued job can be cancelled",
                job.status
            ),
        ));
    }
    tx.exec("DELETE FROM job_files WHERE job_id = $1", params![id])?;
    audit::record(
        tx,
        ctx,
        "job.cancelled",
        "job",
        id,
        serde_json::json!({"kind": job.kind}),
    )?;
    get(tx, id)
}
