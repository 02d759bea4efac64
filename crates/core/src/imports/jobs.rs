//! Imports through the API: an uploaded file becomes a job that runs in the background, records
//! its progress as it goes and its summary (with every rejected row) when it ends, so the console
//! can show a progress bar and offer the rejected rows for download.
//!
//! A running job is leased by the server process running it (`owner`, its [`instance_id`]):
//! the lease lasts [`LEASE`] and is renewed every [`RENEW_EVERY`] while the job works. A job
//! whose lease ran out lost its server (it stopped or was killed mid-import) and is marked
//! failed by [`fail_abandoned`], which every server runs at startup and once a minute; a job
//! whose server still renews it is never touched, however many servers share the database.

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
    /// `products`, `stock` or `orders`.
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
    /// `running`, `done` or `failed`.
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
    })
}

/// How long a running job is its server's without a renewal.
pub const LEASE: std::time::Duration = std::time::Duration::from_secs(60);
/// How often the server running a job renews its lease: four times per lease, so a slow
/// database or a busy moment does not let a live job's lease run out.
pub const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// What a job abandoned by its server says.
pub const ABANDONED: &str = "the server running this import stopped before it finished; nothing of a failed unit was kept, run it again";

/// This server process's id, random, drawn once: the `owner` of the jobs it runs.
pub fn instance_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| crate::util::random_hex(8))
}

fn micros(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Marks failed every running job whose lease ran out before `now` (or that has none: it was
/// started before leases existed); returns their ids. A job whose server renews its lease is
/// left alone.
pub fn fail_abandoned(tx: &mut dyn Sql, now: i64) -> Result<Vec<i64>> {
    let rows = tx.query(
        "UPDATE import_jobs SET status = 'failed', error = $1, finished_at = $2 WHERE status = 'running' AND (lease_until IS NULL OR lease_until < $2) RETURNING id",
        params![ABANDONED, now],
    )?;
    Ok(rows
        .iter()
        .map(|r| r.get::<i64>("id"))
        .collect::<std::result::Result<_, _>>()?)
}

/// Extends the lease of job `id` if this server still holds it.
fn renew(tx: &mut dyn Sql, id: i64, now: i64) -> Result<()> {
    tx.exec(
        "UPDATE import_jobs SET lease_until = $1 WHERE id = $2 AND owner = $3 AND status = 'running'",
        params![now + micros(LEASE), id, instance_id()],
    )?;
    Ok(())
}

const SELECT: &str = "SELECT id, kind, status, bytes_total, bytes_done, rows_done, summary, error, created_by, created_at, finished_at FROM import_jobs";

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

/// Checks the request, records the job and starts it; returns the job as it starts.
pub async fn start(db: &Db, actor: Actor, n: NewImport, file: bytes::Bytes) -> Result<ImportJob> {
    let needs = match n.kind.as_str() {
        "products" => Permission::CatalogWrite,
        "stock" => Permission::InventoryWrite,
        "orders" => Permission::OrdersManage,
        _ => return Err(Error::invalid("kind", "must be products, stock or orders")),
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
    let (kind, who) = (n.kind.clone(), actor.name.clone());
    let id = db
        .write(move |tx| {
            let now = crate::util::now_micros();
            let r = tx.query_one(
                "INSERT INTO import_jobs (kind, options, status, bytes_total, created_by, created_at, owner, lease_until) VALUES ($1, $2, 'running', $3, $4, $5, $6, $7) RETURNING id",
                params![kind.as_str(), options.as_str(), total, who.as_str(), now, instance_id(), now + micros(LEASE)],
            )?;
            Ok(r.map(|r| r.get::<i64>("id")).transpose()?.unwrap_or(0))
        })
        .await?;
    let db2 = db.clone();
    tokio::spawn(async move {
        // The lease is renewed for as long as the job runs.
        let db4 = db2.clone();
        let renewer = tokio::spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                let now = crate::util::now_micros();
                if let Err(e) = db4.write(move |tx| renew(tx, id, now)).await {
                    tracing::warn!(import.id = id, error = %e, "renewing an import's lease failed");
                }
            }
        });
        let result = run(&db2, actor, &n, file, id).await;
        renewer.abort();
        let now = crate::util::now_micros();
        let (status, summary, error) = match result {
            Ok(s) => ("done", serde_json::to_string(&s).ok(), None),
            Err(e) => ("failed", None, Some(e.to_string())),
        };
        let _ = db2
            .write(move |tx| {
                tx.exec(
                    "UPDATE import_jobs SET status = $1, summary = $2, error = $3, finished_at = $4, bytes_done = bytes_total WHERE id = $5",
                    params![status, summary.clone(), error.clone(), now, id],
                )?;
                Ok(())
            })
            .await;
    });
    let db3 = db.clone();
    db3.read(move |tx| get(tx, id)).await
}

async fn progress(db: &Db, id: i64, bytes: u64, rows: u64) {
    let _ = db
        .write(move |tx| {
            tx.exec(
                "UPDATE import_jobs SET bytes_done = $1, rows_done = $2 WHERE id = $3",
                params![bytes as i64, rows as i64, id],
            )?;
            Ok(())
        })
        .await;
}

async fn run(db: &Db, actor: Actor, n: &NewImport, file: bytes::Bytes, id: i64) -> Result<Summary> {
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
            progress(db, id, file.len() as u64, parsed.rows).await;
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
            progress(db, id, file.len() as u64, s.rows).await;
            Ok(s)
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
                progress(db, id, total, s.rows).await;
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
                    let db3 = db2.clone();
                    tokio::spawn(async move { progress(&db3, id, b, r).await });
                }
            })
            .await?;
            Ok(s)
        }
    }
}
