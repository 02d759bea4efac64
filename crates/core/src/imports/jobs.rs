//! Imports through the API: an uploaded file becomes an import (its record here: options,
//! progress, summary with every rejected row) and a durable job (`crate::jobs`) that runs it in
//! the background, enqueued with the file in the same transaction. The console shows a progress
//! bar and offers the rejected rows for download.
//!
//! A server's job worker claims the job with a lease and calls [`execute`]. A job whose server
//! stopped mid-import is queued again and runs again from its start: every import is safe to
//! repeat (products and orders already there are matched, stock levels are set) except stock
//! added, which gets one attempt and is failed as abandoned instead ([`recovered`]). Imports
//! from before jobs existed, left running by a stopped server, are failed by [`fail_abandoned`].

use super::{Options, OrderOptions, StockMode, Summary};
use crate::util::{opt_rfc3339, rfc3339};
use crate::{Actor, Db, Error, Result, Sql, params};
use backroom_domain::roles::Permission;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What to import and how; the file is the request body.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NewImport {
    /// `products`, `stock`, `orders` or `tickets`.
    pub kind: String,
    /// Products: `shopify`, `woocommerce`, `magento` or `backroom` (detected when absent).
    pub format: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub strict: bool,
    /// Products: set stock at this location (code) from the file's quantities.
    pub location: Option<String>,
    /// Stock: `set` (default) or `add`.
    pub mode: Option<String>,
    /// Orders: the channel (code), `online` by default.
    pub channel: Option<String>,
    /// Orders: the currency of the prices (the store's by default).
    pub currency: Option<String>,
    /// Orders: the time zone of the file's times (the store's by default).
    pub timezone: Option<String>,
    /// Orders: move stock at this location (code) for the history; left alone by default.
    pub stock_location: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ImportJob {
    pub id: i64,
    pub kind: String,
    /// `queued`, `running`, `done` or `failed`.
    pub status: String,
    pub bytes_total: i64,
    pub bytes_done: i64,
    pub rows_done: i64,
    /// 0 to 100.
    pub percent: i64,
    /// When done: counts, and the first 100 rejected rows (all of them at `/rejects`).
    pub summary: Option<serde_json::Value>,
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// The job that runs it (`/jobs/{id}`: attempts, lease, errors); none for imports from
    /// before jobs existed.
    pub job_id: Option<i64>,
}

fn job_from(r: &crate::Row) -> std::result::Result<ImportJob, crate::DbError> {
    let (total, done): (i64, i64) = (r.get("bytes_total")?, r.get("bytes_done")?);
    let summary: Option<serde_json::Value> = r
        .get::<Option<String>>("summary")?
        .and_then(|s| serde_json::from_str(&s).ok())
        .map(|mut v: serde_json::Value| {
            if let Some(list) = v.get_mut("rejected").and_then(|x| x.as_array_mut()) {
                list.truncate(100);
            }
            v
        });
    let status: String = r.get("status")?;
    Ok(ImportJob {
        id: r.get("id")?,
        kind: r.get("kind")?,
        percent: if status == "done" {
            100
        } else if total > 0 {
            (done * 100 / total).min(99)
        } else {
            0
        },
        status,
        bytes_total: total,
        bytes_done: done,
        rows_done: r.get("rows_done")?,
        summary,
        error: r.get("error")?,
        created_by: r.get("created_by")?,
        created_at: rfc3339(r.get("created_at")?),
        finished_at: opt_rfc3339(r.get("finished_at")?),
        job_id: r.get("job_id")?,
    })
}

/// What an import abandoned by its server, and not run again, says.
pub const ABANDONED: &str = "the server running this import stopped before it finished; nothing of a failed unit was kept, run it again";

/// Marks failed every running import with no job (started before jobs existed) whose lease ran
/// out before `now` (or that has none: it was started before leases existed); returns their
/// ids. One whose server renews its lease is left alone; those with a job are the job's.
pub fn fail_abandoned(tx: &mut dyn Sql, now: i64) -> Result<Vec<i64>> {
    let rows = tx.query(
        "UPDATE import_jobs SET status = 'failed', error = $1, finished_at = $2 WHERE status = 'running' AND job_id IS NULL AND (lease_until IS NULL OR lease_until < $2) RETURNING id",
        params![ABANDONED, now],
    )?;
    Ok(rows
        .iter()
        .map(|r| r.get::<i64>("id"))
        .collect::<std::result::Result<_, _>>()?)
}

const SELECT: &str = "SELECT id, kind, status, bytes_total, bytes_done, rows_done, summary, error, created_by, created_at, finished_at, job_id FROM import_jobs";

pub fn get(tx: &mut dyn Sql, id: i64) -> Result<ImportJob> {
    let r = tx
        .query_one(&format!("{SELECT} WHERE id = $1"), params![id])?
        .ok_or(Error::NotFound { entity: "import" })?;
    Ok(job_from(&r)?)
}

/// The most recent jobs first.
pub fn list(tx: &mut dyn Sql, limit: i64) -> Result<Vec<ImportJob>> {
    let limit = crate::util::page_limit(Some(limit))?;
    Ok(tx
        .query(
            &format!("{SELECT} ORDER BY id DESC LIMIT $1"),
            params![limit],
        )?
        .iter()
        .map(job_from)
        .collect::<std::result::Result<_, _>>()?)
}

/// Imports, newest first, paged.
pub fn page(tx: &mut dyn Sql, q: &crate::api::PageQuery) -> Result<crate::api::Page<ImportJob>> {
    crate::util::keyset_page(
        tx,
        SELECT,
        crate::util::Filter::default(),
        q,
        crate::util::Keyset::IdDesc,
        "id",
        job_from,
        |j| (String::new(), j.id),
    )
}

/// Every rejected row of a finished job, as CSV: file, line, column, reason.
pub fn rejects_csv(tx: &mut dyn Sql, id: i64) -> Result<String> {
    let r = tx
        .query_one("SELECT summary FROM import_jobs WHERE id = $1", params![id])?
        .ok_or(Error::NotFound { entity: "import" })?;
    let rejected: Vec<backroom_import::RowError> = r
        .get::<Option<String>>("summary")?
        .and_then(|j| serde_json::from_str::<SummaryIn>(&j).ok())
        .map(|s| s.rejected)
        .unwrap_or_default();
    let f = crate::analytics::export::csv_field;
    let mut out = String::from("file,line,column,reason\n");
    for e in &rejected {
        out.push_str(&format!(
            "{},{},{},{}\n",
            f(e.file.as_deref().unwrap_or("")),
            e.line,
            f(e.column.as_deref().unwrap_or("")),
            f(&e.message)
        ));
    }
    Ok(out)
}

/// The part of a stored summary read back.
#[derive(Deserialize)]
struct SummaryIn {
    rejected: Vec<backroom_import::RowError>,
}

/// Checks the request, then records the import and the job that runs it, with the file, in one
/// transaction; returns the import as queued. A server's job worker runs it (see [`execute`]).
pub async fn start(db: &Db, actor: Actor, n: NewImport, file: bytes::Bytes) -> Result<ImportJob> {
    let needs = match n.kind.as_str() {
        "products" => Permission::CatalogWrite,
        "stock" => Permission::InventoryWrite,
        "orders" => Permission::OrdersManage,
        "tickets" => Permission::SupportManage,
        _ => {
            return Err(Error::invalid(
                "kind",
                "must be products, stock, orders or tickets",
            ));
        }
    };
    actor.require(needs)?;
    if let Some(f) = &n.format
        && backroom_import::Format::parse(f).is_none()
    {
        return Err(Error::invalid(
            "format",
            "must be shopify, woocommerce, magento or backroom (products), or online_retail, shopify_orders or backroom_orders (orders)",
        ));
    }
    if !matches!(n.mode.as_deref(), None | Some("set") | Some("add")) {
        return Err(Error::invalid("mode", "must be set or add"));
    }
    if file.is_empty() {
        return Err(Error::invalid(
            "body",
            "the request body is the file to import; it is empty",
        ));
    }
    let total = file.len() as i64;
    let options = serde_json::to_string(&n).unwrap_or_default();
    // Every import is safe to run again from its start (products and orders already there are
    // matched, stock is set), but for stock added: that one gets one attempt.
    let max_attempts = if n.kind == "stock" && n.mode.as_deref() == Some("add") {
        1
    } else {
        3
    };
    db.write(move |tx| {
        let ctx = crate::Ctx::new(actor.clone(), crate::util::now_micros());
        let id: i64 = tx
            .query_one(
                "INSERT INTO import_jobs (kind, options, status, bytes_total, created_by, created_at) VALUES ($1, $2, 'queued', $3, $4, $5) RETURNING id",
                params![n.kind.as_str(), options.as_str(), total, actor.name.as_str(), ctx.now],
            )?
            .ok_or(Error::NotFound { entity: "import" })?
            .get("id")?;
        let job = crate::jobs::enqueue(
            tx,
            &ctx,
            crate::jobs::NewJob {
                kind: KIND,
                payload: serde_json::json!({
                    "import": id,
                    "actor": {"user_id": actor.user_id, "name": actor.name, "role": actor.role.as_str()},
                }),
                max_attempts,
                file: Some(file.to_vec()),
            },
        )?;
        tx.exec(
            "UPDATE import_jobs SET job_id = $1 WHERE id = $2",
            params![job, id],
        )?;
        get(tx, id)
    })
    .await
}

/// The job kind that runs imports.
pub const KIND: &str = "import";

/// The import a job of this kind runs (its payload names it).
pub fn import_of(payload: &serde_json::Value) -> Option<i64> {
    payload.get("import").and_then(|v| v.as_i64())
}

/// What an import job carries besides the import: who asked.
#[derive(Deserialize)]
struct Payload {
    actor: PayloadActor,
}

#[derive(Deserialize)]
struct PayloadActor {
    user_id: i64,
    name: String,
    role: String,
}

/// Runs one attempt of an import job claimed by this server: reads the import's options and
/// file, imports, and records the outcome on the import and the job in one transaction. Returns
/// what the job does next; an attempt whose lease was lost meanwhile records nothing.
pub async fn execute(
    db: &Db,
    job: &crate::jobs::Claimed,
    backoff_base: i64,
) -> Result<backroom_domain::jobs::Next> {
    let Some(id) = import_of(&job.payload) else {
        return Err(Error::invalid("payload", "not an import job"));
    };
    // Whatever fails from here on is the attempt's outcome, recorded on the import and the job.
    let result = match prepare(db, job, id).await {
        Ok((actor, n, file)) => run(db, actor, &n, file, id, job).await,
        Err(e) => Err(e),
    };
    let outcome = match &result {
        Ok(s) => crate::jobs::Outcome::Done(serde_json::json!({"import": id, "rows": s.rows})),
        Err(e) => crate::jobs::Outcome::Failed {
            error: e.to_string(),
            // A database that failed or timed out may not next time; a file or an option that
            // was refused would be refused again.
            retry: matches!(
                e,
                Error::Db(
                    crate::DbError::Retry(_)
                        | crate::DbError::Timeout(_)
                        | crate::DbError::Other(_)
                )
            ),
        },
    };
    let summary = result
        .as_ref()
        .ok()
        .and_then(|s| serde_json::to_string(s).ok());
    let job = job.clone();
    db.write(move |tx| {
        let now = crate::util::now_micros();
        let next = crate::jobs::finish(tx, &job, &outcome, now, backoff_base)?;
        let error = match &outcome {
            crate::jobs::Outcome::Failed { error, .. } => Some(error.clone()),
            crate::jobs::Outcome::Done(_) => None,
        };
        match next {
            backroom_domain::jobs::Next::Done => tx.exec(
                "UPDATE import_jobs SET status = 'done', summary = $1, error = NULL, finished_at = $2, bytes_done = bytes_total WHERE id = $3",
                params![summary.clone(), now, id],
            )?,
            backroom_domain::jobs::Next::RetryAt(_) => tx.exec(
                "UPDATE import_jobs SET status = 'queued', error = $1 WHERE id = $2",
                params![error.map(|e| format!("{e}; it will be tried again")), id],
            )?,
            backroom_domain::jobs::Next::Failed => tx.exec(
                "UPDATE import_jobs SET status = 'failed', error = $1, finished_at = $2, bytes_done = bytes_total WHERE id = $3",
                params![error, now, id],
            )?,
        };
        Ok(next)
    })
    .await
}

/// Marks the import running and reads what the attempt needs: who asked, the options, the file.
async fn prepare(
    db: &Db,
    job: &crate::jobs::Claimed,
    id: i64,
) -> Result<(Actor, NewImport, bytes::Bytes)> {
    let p: Payload = serde_json::from_value(job.payload.clone())
        .map_err(|e| Error::invalid("payload", format!("not an import job: {e}")))?;
    let actor = Actor {
        user_id: p.actor.user_id,
        role: backroom_domain::roles::Role::parse(&p.actor.role)
            .ok_or_else(|| Error::invalid("payload", "an unknown role"))?,
        name: p.actor.name,
    };
    let job_id = job.id;
    let (n, file) = db
        .write(move |tx| {
            tx.exec(
                "UPDATE import_jobs SET status = 'running', bytes_done = 0, rows_done = 0, error = NULL WHERE id = $1",
                params![id],
            )?;
            let options: String = tx
                .query_one("SELECT options FROM import_jobs WHERE id = $1", params![id])?
                .ok_or(Error::NotFound { entity: "import" })?
                .get("options")?;
            let n: NewImport = serde_json::from_str(&options)
                .map_err(|e| Error::invalid("options", e.to_string()))?;
            Ok((n, crate::jobs::file(tx, job_id)?))
        })
        .await?;
    Ok((actor, n, bytes::Bytes::from(file)))
}

/// Records on the import what [`crate::jobs::recover`] did to its job: queued to run again, or
/// failed as abandoned. In the recovery's transaction.
pub fn recovered(tx: &mut dyn Sql, job: &crate::jobs::Recovered, now: i64) -> Result<()> {
    let Some(id) = import_of(&job.payload) else {
        return Ok(());
    };
    if job.requeued {
        tx.exec(
            "UPDATE import_jobs SET status = 'queued', error = $1 WHERE id = $2",
            params![REQUEUED, id],
        )?;
    } else {
        tx.exec(
            "UPDATE import_jobs SET status = 'failed', error = $1, finished_at = $2 WHERE id = $3",
            params![ABANDONED, now, id],
        )?;
    }
    Ok(())
}

/// Records on the import a change made to its job by hand ([`crate::jobs::retry`] queues it
/// again, [`crate::jobs::cancel`] ends it), in that change's transaction.
pub fn job_changed(tx: &mut dyn Sql, job: &crate::jobs::Job, now: i64) -> Result<()> {
    let Some(id) = import_of(&job.payload) else {
        return Ok(());
    };
    match job.status.as_str() {
        "queued" => tx.exec(
            "UPDATE import_jobs SET status = 'queued', error = NULL, summary = NULL, finished_at = NULL, bytes_done = 0, rows_done = 0 WHERE id = $1",
            params![id],
        )?,
        "cancelled" => tx.exec(
            "UPDATE import_jobs SET status = 'failed', error = 'cancelled before it started', finished_at = $1 WHERE id = $2",
            params![now, id],
        )?,
        _ => 0,
    };
    Ok(())
}

/// What an import whose server stopped, queued to run again, says.
pub const REQUEUED: &str =
    "the server running this import stopped before it finished; it will run again from its start";

async fn progress(db: &Db, id: i64, job: &crate::jobs::Claimed, bytes: u64, rows: u64) {
    let job = job.clone();
    let _ = db
        .write(move |tx| {
            let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
            let total: i64 = tx
                .query_one(
                    "UPDATE import_jobs SET bytes_done = $1, rows_done = $2 WHERE id = $3 RETURNING bytes_total",
                    params![bytes, rows as i64, id],
                )?
                .map(|r| r.get("bytes_total"))
                .transpose()?
                .unwrap_or(0);
            crate::jobs::progress(tx, &job, bytes, total)
        })
        .await;
}

async fn run(
    db: &Db,
    actor: Actor,
    n: &NewImport,
    file: bytes::Bytes,
    id: i64,
    job: &crate::jobs::Claimed,
) -> Result<Summary> {
    let opts = Options {
        dry_run: n.dry_run,
        strict: n.strict,
        location: n.location.clone(),
    };
    match n.kind.as_str() {
        "products" => {
            let exponent = db
                .read(|tx| Ok(crate::settings::load(tx)?.currency.exponent()))
                .await?;
            let format = n.format.as_deref().and_then(backroom_import::Format::parse);
            let parsed = backroom_import::products::read(&file[..], format, exponent);
            progress(db, id, job, file.len() as u64, parsed.rows).await;
            super::products(db, actor, parsed, &opts).await
        }
        "stock" => {
            let mode = if n.mode.as_deref() == Some("add") {
                StockMode::Add
            } else {
                StockMode::Set
            };
            let (mut reader, mut header_error) = match backroom_import::stock::StockReader::new(
                std::io::Cursor::new(file.clone()),
            ) {
                Ok(r) => (Some(r), None),
                Err(e) => (None, Some(e)),
            };
            let next = move || match reader.as_mut() {
                Some(r) => r.next(),
                None => header_error.take().map(Err),
            };
            let s = super::stock_stream(db, actor, next, mode, "import".into(), &opts).await?;
            progress(db, id, job, file.len() as u64, s.rows).await;
            Ok(s)
        }
        "tickets" => {
            let (records, errors, rows) = backroom_import::tickets::read(&file[..]);
            progress(db, id, job, file.len() as u64, rows).await;
            super::tickets(db, actor, records, errors, rows, &opts).await
        }
        _ => {
            let (oc, exponent) = super::order_context(
                db,
                &actor,
                &OrderOptions {
                    channel: n.channel.clone().unwrap_or_else(|| "online".into()),
                    currency: n.currency.clone(),
                    timezone: n.timezone.clone(),
                    stock_location: n.stock_location.clone(),
                },
            )
            .await?;
            let format = match n.format.as_deref().and_then(backroom_import::Format::parse) {
                Some(f) => f,
                None => {
                    let first = file.split(|b| *b == b'\n').next().unwrap_or_default();
                    backroom_import::Format::detect_line(&String::from_utf8_lossy(first))
                        .unwrap_or(backroom_import::Format::OnlineRetail)
                }
            };
            if matches!(
                format,
                backroom_import::Format::ShopifyOrders | backroom_import::Format::BackroomOrders
            ) {
                let total = file.len() as u64;
                let mut reader = backroom_import::orders::OrderReader::new(
                    std::io::Cursor::new(file),
                    Some(format),
                    exponent,
                )
                .map_err(|e| Error::invalid("body", e.to_string()))?;
                let next = move || {
                    reader.next().map(|i| match i {
                        backroom_import::orders::Item::Order(o) => Ok(o),
                        backroom_import::orders::Item::Rejected(e) => Err(e),
                    })
                };
                let s = super::history(
                    db,
                    actor,
                    oc,
                    next,
                    super::apply_order_records,
                    &opts,
                    |_| {},
                )
                .await?;
                progress(db, id, job, total, s.rows).await;
                return Ok(s);
            }
            let mut reader =
                backroom_import::retail::InvoiceReader::new(std::io::Cursor::new(file), exponent)
                    .map_err(|e| Error::invalid("body", e.to_string()))?;
            let shared = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let seen = shared.clone();
            let next = move || {
                let item = reader.next();
                seen.store(reader.bytes_read(), std::sync::atomic::Ordering::Relaxed);
                item
            };
            let db2 = db.clone();
            let mut last = std::time::Instant::now();
            let s = super::orders(db, actor, oc, next, &opts, |rows| {
                if last.elapsed().as_millis() >= 500 {
                    last = std::time::Instant::now();
                    let (b, r) = (shared.load(std::sync::atomic::Ordering::Relaxed), rows);
                    let (db3, job) = (db2.clone(), job.clone());
                    tokio::spawn(async move { progress(&db3, id, &job, b, r).await });
                }
            })
            .await?;
            Ok(s)
        }
    }
}
