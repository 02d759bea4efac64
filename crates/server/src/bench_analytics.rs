//! `backroom bench analytics`: generates a seeded store history (orders over N days and
//! storefront events), ingests it through the API of a real `backroom serve`, derives sessions
//! and rollups, and times the KPI dashboard (every KPI for 30 days with the previous period and
//! the same period last year, by day, and the funnel) cold and warm. With `--duckdb`, it exports
//! the same raw rows as CSV and times DuckDB (installed from PyPI into a virtualenv by this
//! command, never a build dependency) computing the same KPIs, and checks the numbers agree.

use crate::bench::{percentile_ms, seed, wait_up};
use anyhow::{Context, Result, bail};
use backroom_core::analytics::report;
use backroom_core::{Db, Val};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Args {
    pub events: u64,
    pub orders: u64,
    pub days: i64,
    pub clients: usize,
    pub batch: u64,
    pub duckdb: bool,
}

const DAY: i64 = 86_400_000_000;
const SKUS: usize = 500;
const ORDER_BASE: i64 = 100_000;

/// A tiny deterministic generator (SplitMix64), one per batch so batches can be made in any
/// order by any client and still be the same.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Plan {
    start: i64,
    span: i64,
    orders: u64,
}

impl Plan {
    /// When order `i` was placed: evenly through the span, with a little jitter.
    fn placed(&self, i: u64) -> i64 {
        let step = self.span / self.orders.max(1) as i64;
        self.start + i as i64 * step + (Rng(i).below(step.max(1) as u64)) as i64
    }
}

/// The server, with background derivation off so that ingest is timed alone.
fn spawn(url: &str) -> Result<(std::process::Child, String)> {
    crate::bench::spawn_server_with(url, &[("BACKROOM_ANALYTICS_REFRESH_MS", "0")])
}

/// Orders `from..to` in Backroom's order layout (the head repeated on every line).
fn orders_csv(plan: &Plan, from: u64, to: u64) -> String {
    let mut s = String::from(
        "number,placed_at,channel,customer_email,status,payment_status,fulfillment_status,currency,subtotal,shipping,tax,total,paid,refunded,line_no,sku,title,quantity,unit_price,line_tax,returned_quantity\n",
    );
    for i in from..to {
        let mut r = Rng(i ^ 0x5EED);
        let at = backroom_core::util::rfc3339(plan.placed(i));
        // A quarter of the customers place most orders.
        let customer = if r.below(100) < 60 {
            r.below(plan.orders / 16 + 1)
        } else {
            r.below(plan.orders / 3 + 1)
        };
        let lines: Vec<(u64, u64)> = (0..1 + r.below(3))
            .map(|_| (r.below(SKUS as u64), 1 + r.below(2)))
            .collect();
        let cancelled = r.below(100) < 3;
        let subtotal: u64 = lines.iter().map(|(k, q)| q * (1000 + (k % 10) * 100)).sum();
        let (status, payment) = if cancelled {
            ("cancelled", "voided")
        } else {
            ("closed", "paid")
        };
        let money = |m: u64| format!("{}.{:02}", m / 100, m % 100);
        for (n, (k, q)) in lines.iter().enumerate() {
            let returned = u64::from(!cancelled && n == 0 && r.below(100) < 4);
            let _ = writeln!(
                s,
                "{},{at},online,c{customer}@bench.example,{status},{payment},fulfilled,EUR,{},0.00,0.00,{},{},0.00,{},SKU{k:05},,{q},{},0.00,{returned}",
                ORDER_BASE + i as i64,
                money(subtotal),
                money(subtotal),
                if cancelled {
                    "0.00".to_string()
                } else {
                    money(subtotal)
                },
                n + 1,
                money(1000 + (k % 10) * 100),
            );
        }
    }
    s
}

const SOURCES: [(&str, &str, &str, &str); 6] = [
    ("google", "cpc", "brand-search", ""),
    ("meta", "paid_social", "prospecting", ""),
    ("newsletter", "email", "weekly", ""),
    ("", "", "", "google.com"),
    ("", "", "", "blog.example"),
    ("", "", "", ""),
];

/// Batch `b` of `batches`: whole visits within its slice of the span, as NDJSON.
fn events_batch(plan: &Plan, b: u64, batches: u64, per: u64) -> String {
    let mut r = Rng(b.wrapping_mul(0x1234_5678_9ABC) ^ 0xE7E7);
    let slice = plan.span / batches as i64;
    let t0 = plan.start + b as i64 * slice;
    let mut s = String::with_capacity(per as usize * 260);
    let mut n = 0u64;
    while n < per {
        let visitor = r.below(1_500_000);
        let (src, medium, campaign, referrer) = SOURCES[r.below(6) as usize];
        let device = ["mobile", "mobile", "desktop", "tablet"][r.below(4) as usize];
        let country = ["FR", "DE", "GB", "ES", "IT", "NL", "BE", "US"][r.below(8) as usize];
        let len = (1 + r.below(8)).min(per - n);
        let mut t = t0 + r.below(slice as u64) as i64;
        let buys = len >= 4 && r.below(100) < 4;
        for k in 0..len {
            let kind = if k == 0 {
                "page_view"
            } else if buys && k == len - 1 {
                "purchase"
            } else if buys && k == len - 2 {
                "checkout_started"
            } else {
                [
                    "page_view",
                    "product_view",
                    "product_view",
                    "add_to_cart",
                    "search",
                ][r.below(5) as usize]
            };
            let mut url = String::from("https://shop.example/p");
            if k == 0 && !src.is_empty() {
                let _ = write!(
                    url,
                    "?utm_source={src}&utm_medium={medium}&utm_campaign={campaign}"
                );
            }
            let referrer = if k == 0 && !referrer.is_empty() {
                format!(",\"referrer\":\"https://{referrer}/\"")
            } else {
                String::new()
            };
            let order = if kind == "purchase" {
                // The order placed closest to this moment.
                let i = ((t - plan.start).max(0) as u64 * plan.orders / plan.span as u64)
                    .min(plan.orders - 1);
                t = plan.placed(i).max(t);
                format!(",\"order_number\":{}", ORDER_BASE + i as i64)
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "{{\"id\":\"b{b}-{n}\",\"type\":\"{kind}\",\"visitor_id\":\"v{visitor}\",\"timestamp\":\"{}\",\"url\":\"{url}\"{referrer},\"device\":\"{device}\",\"country\":\"{country}\"{order}}}",
                backroom_core::util::rfc3339(t)
            );
            n += 1;
            t += (5 + r.below(400)) as i64 * 1_000_000;
        }
    }
    s
}

pub fn run(backend: &str, url: &str, a: &Args) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let now = backroom_core::util::now_micros();
    let plan = Arc::new(Plan {
        start: (now / DAY - a.days) * DAY,
        span: a.days * DAY,
        orders: a.orders,
    });
    eprintln!("[{backend}] seeding {SKUS} SKUs...");
    let token = rt.block_on(seed(url, SKUS, 0, "admin"))?;
    let db = rt
        .block_on(Db::open(url))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    rt.block_on(db.write(|tx| {
        backroom_core::settings::set(tx, "timezone", "Europe/Paris")?;
        backroom_core::settings::set(tx, "currency", "EUR")?;
        tx.exec(
            "UPDATE variants SET cost_minor = price_minor * 45 / 100",
            &[],
        )?;
        Ok(())
    }))
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (mut child, base) = spawn(url)?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(a.clients)
        .timeout(Duration::from_secs(3600))
        .build()?;
    let loaded = rt.block_on(async {
        wait_up(&http, &base).await?;
        let key = ingest_key(&http, &base, &token).await?;
        let (import_secs, lines) = import_orders(&http, &base, &token, backend, a, &plan).await?;
        let (ingest_secs, accepted, lat) =
            ingest_events(&http, &base, &key, backend, a, &plan).await?;
        Ok::<_, anyhow::Error>((import_secs, lines, ingest_secs, accepted, lat))
    });
    let (import_secs, lines, ingest_secs, accepted, lat) = match loaded {
        Ok(v) => v,
        Err(e) => {
            let _ = child.kill();
            return Err(e);
        }
    };
    println!(
        "backend={backend} events={} orders={} days={} clients={} batch={}",
        a.events, a.orders, a.days, a.clients, a.batch
    );
    println!(
        "  orders import:   {} orders, {lines} lines in {import_secs:.1} s ({:.0} lines/s, through POST /imports)",
        a.orders,
        lines as f64 / import_secs
    );
    println!(
        "  event ingest:    {accepted} events in {ingest_secs:.1} s = {:.0} events/s durable (batch p50 {:.0} ms, p99 {:.0} ms)",
        accepted as f64 / ingest_secs,
        percentile_ms(&lat, 0.5),
        percentile_ms(&lat, 0.99)
    );

    // Derivation: sessions, attribution and rollups for everything ingested.
    let today = (now / DAY) as i32;
    let (from, to) = (today - 29, today + 1);
    let (f, t) = (
        backroom_domain::analytics::format_day(from),
        backroom_domain::analytics::format_day(to),
    );
    let derive_secs = match rt.block_on(rebuild(&http, &base, &token)) {
        Ok(s) => s,
        Err(e) => {
            let _ = child.kill();
            return Err(e);
        }
    };
    if backend == "postgres" {
        settle_postgres(&rt, &db)?;
    }
    // Cold: a fresh server process; warm: the same queries again.
    let _ = child.kill();
    let _ = child.wait();
    let (mut child, base) = spawn(url)?;
    let timed = rt.block_on(time_dashboard(&http, &base, &token, &f, &t));
    let _ = child.kill();
    let _ = child.wait();
    let (cold, warm, kpis, funnel) = timed?;
    let raw_secs = rt.block_on(raw_report(&db, from, to))?;
    let tot = &kpis["totals"];
    println!(
        "  derivation:      sessions, attribution and rollups from scratch in {derive_secs:.1} s ({:.0} events/s)",
        accepted as f64 / derive_secs
    );
    println!(
        "  dashboard:       cold {:.1} ms; warm p50 {:.1} ms, p95 {:.1} ms ({} to {} by day, previous period, last year, funnel)",
        cold.as_secs_f64() * 1000.0,
        percentile_ms(&warm, 0.5),
        percentile_ms(&warm, 0.95),
        f,
        t
    );
    println!(
        "  same report from raw rows (no rollups): {:.0} ms",
        raw_secs * 1000.0
    );
    println!(
        "  30 days: {} sessions, {} visitors, {} orders, net sales {} EUR cents, conversion {:.4}",
        tot["sessions"],
        tot["unique_visitors"],
        tot["orders"],
        tot["net_sales"],
        tot["conversion_rate"].as_f64().unwrap_or(0.0)
    );
    if a.duckdb {
        let warm_ms = percentile_ms(&warm, 0.5);
        duckdb(&rt, &db, from, to, &kpis, &funnel, warm_ms)?;
    }
    Ok(())
}

/// A storefront ingest key for the events.
async fn ingest_key(http: &reqwest::Client, base: &str, token: &str) -> Result<String> {
    Ok(http
        .post(format!("{base}/api/v1/tokens"))
        .bearer_auth(token)
        .json(&json!({"name": "bench storefront", "ingest": true}))
        .send()
        .await?
        .json::<Value>()
        .await?["token"]
        .as_str()
        .context("no ingest key")?
        .to_string())
}

/// The plan's orders, through import jobs of 100,000 orders each: the seconds taken and the
/// lines imported.
async fn import_orders(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    backend: &str,
    a: &Args,
    plan: &Plan,
) -> Result<(f64, u64)> {
    let started = Instant::now();
    let mut lines = 0u64;
    let mut i = 0;
    while i < a.orders {
        let to = (i + 100_000).min(a.orders);
        let body = orders_csv(plan, i, to);
        lines += body.lines().count() as u64 - 1;
        let job: Value = http
            .post(format!(
                "{base}/api/v1/imports?kind=orders&currency=EUR&timezone=UTC"
            ))
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .body(body)
            .send()
            .await?
            .json()
            .await?;
        let id = job["id"]
            .as_i64()
            .with_context(|| format!("no import job: {job}"))?;
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let j: Value = http
                .get(format!("{base}/api/v1/imports/{id}"))
                .bearer_auth(token)
                .send()
                .await?
                .json()
                .await?;
            match j["status"].as_str() {
                Some("running") | Some("queued") => continue,
                Some("done") | Some("succeeded") | Some("finished") => break,
                _ => bail!("import job ended: {j}"),
            }
        }
        i = to;
        eprint!("\r[{backend}] orders imported: {i}/{}   ", a.orders);
    }
    eprintln!();
    Ok((started.elapsed().as_secs_f64(), lines))
}

/// The plan's events, in time order, by concurrent clients: the seconds taken, the events
/// accepted and each batch's latency (sorted, in microseconds).
async fn ingest_events(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    backend: &str,
    a: &Args,
    plan: &Arc<Plan>,
) -> Result<(f64, u64, Vec<u64>)> {
    let batches = a.events.div_ceil(a.batch);
    let next = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.clients {
        let (http, base, key, next, accepted, plan) = (
            http.clone(),
            base.to_string(),
            key.to_string(),
            next.clone(),
            accepted.clone(),
            plan.clone(),
        );
        let (total, per) = (a.events, a.batch);
        let backend = backend.to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= batches {
                    return Ok::<_, anyhow::Error>(lat);
                }
                let n = per.min(total - b * per);
                let body = tokio::task::spawn_blocking({
                    let plan = plan.clone();
                    move || events_batch(&plan, b, batches, n)
                })
                .await?;
                let t = Instant::now();
                let r: Value = http
                    .post(format!("{base}/api/v1/events"))
                    .bearer_auth(&key)
                    .header("content-type", "application/x-ndjson")
                    .body(body)
                    .send()
                    .await?
                    .json()
                    .await?;
                lat.push(t.elapsed().as_micros() as u64);
                let ok = r["accepted"].as_u64().with_context(|| format!("{r}"))?;
                if !r["rejected"].as_array().is_some_and(|x| x.is_empty()) {
                    bail!("events were rejected: {}", r["rejected"][0]);
                }
                let done = accepted.fetch_add(ok, Ordering::Relaxed) + ok;
                if b % 50 == 0 {
                    eprint!("\r[{backend}] events ingested: {done}/{total}   ");
                }
            }
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let ingest_secs = started.elapsed().as_secs_f64();
    eprintln!();
    lat.sort_unstable();
    Ok((ingest_secs, accepted.load(Ordering::Relaxed), lat))
}

/// Sessions, attribution and rollups derived from scratch: the seconds it took.
async fn rebuild(http: &reqwest::Client, base: &str, token: &str) -> Result<f64> {
    let t0 = Instant::now();
    let r = http
        .post(format!("{base}/api/v1/analytics/rebuild"))
        .bearer_auth(token)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("rebuild failed: {}", r.text().await?);
    }
    Ok(t0.elapsed().as_secs_f64())
}

/// PostgreSQL vacuums and analyzes the freshly loaded tables in the background for minutes:
/// analyze them now (as after any bulk load) so the dashboard is timed once it has settled, as
/// it would be in service.
fn settle_postgres(rt: &tokio::runtime::Runtime, db: &Db) -> Result<()> {
    rt.block_on(db.write(|tx| {
        tx.exec(
            "ANALYZE events, an_sessions, an_purchases, an_session_days, an_order_days, an_order_facts, an_day_sets, an_customers, orders, order_lines, refunds, ad_spend, email_events",
            &[],
        )?;
        Ok(())
    }))
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    std::thread::sleep(Duration::from_secs(5));
    wait_for_zero(
        rt,
        db,
        "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'",
        600,
    )?;
    // The derivation ran every order through the dirty-order list (a million entries in, then
    // out): until autovacuum clears the dead entries, each report's check of the list scans them
    // (about 30 ms a check, two checks a dashboard; the variance of the earlier runs). With the
    // list's vacuum threshold (migration 0015) that takes under a minute or two; wait for it, as
    // a store in service would have.
    let started = Instant::now();
    wait_for_zero(
        rt,
        db,
        "SELECT n_dead_tup AS n FROM pg_stat_user_tables WHERE relname = 'an_dirty_orders' AND schemaname = current_schema()",
        300,
    )?;
    eprintln!(
        "(waited {:.0} s for autovacuum to clear the dirty-order list)",
        started.elapsed().as_secs_f64()
    );
    // Write the bulk load's dirty pages out now, so the timing does not share the disk with
    // PostgreSQL's checkpointer.
    if let Err(e) = rt.block_on(db.write(|tx| {
        tx.exec("CHECKPOINT", &[])?;
        Ok(())
    })) {
        eprintln!("(could not run CHECKPOINT before timing: {e})");
    }
    Ok(())
}

/// One dashboard: every KPI for `[f, t)` by day (with the previous period and last year) and
/// the funnel; its time and both answers.
async fn dashboard(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    f: &str,
    t: &str,
) -> Result<(Duration, Value, Value)> {
    let t0 = Instant::now();
    let k: Value = http
        .get(format!(
            "{base}/api/v1/analytics/kpis?from={f}&to={t}&by=day"
        ))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    let fu: Value = http
        .get(format!("{base}/api/v1/analytics/funnel?from={f}&to={t}"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    if k["totals"].is_null() || !fu.is_array() {
        bail!("the dashboard failed: {k} {fu}");
    }
    Ok((t0.elapsed(), k, fu))
}

/// The dashboard on a fresh server: once cold, then 30 times warm (sorted, in microseconds).
async fn time_dashboard(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    f: &str,
    t: &str,
) -> Result<(Duration, Vec<u64>, Value, Value)> {
    wait_up(http, base).await?;
    let (cold, k, fu) = dashboard(http, base, token, f, t).await?;
    let mut warm = Vec::new();
    for _ in 0..30 {
        warm.push(dashboard(http, base, token, f, t).await?.0.as_micros() as u64);
    }
    warm.sort_unstable();
    Ok((cold, warm, k, fu))
}

/// The same report straight from the raw rows, for scale: the seconds it took.
async fn raw_report(db: &Db, from: i32, to: i32) -> Result<f64> {
    let p = report::Period { from, to };
    let t0 = Instant::now();
    db.read(move |tx| {
        let (_, o) = report::Opts::from_query(
            tx,
            &report::KpiQuery {
                from: backroom_domain::analytics::format_day(p.from),
                to: backroom_domain::analytics::format_day(p.to),
                by: Some("day".into()),
                ..Default::default()
            },
        )?;
        report::kpis_raw(tx, p, &o)
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(t0.elapsed().as_secs_f64())
}

/// Exports the raw rows as CSV and runs `bench/duckdb_kpis.py` in a virtualenv with DuckDB.
fn duckdb(
    rt: &tokio::runtime::Runtime,
    db: &Db,
    from: i32,
    to: i32,
    kpis: &Value,
    funnel: &Value,
    warm_ms: f64,
) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("backroom-duckdb-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let t0 = Instant::now();
    export_raw_rows(rt, db, &dir)?;
    eprintln!(
        "[duckdb] raw rows exported as CSV in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let d = duckdb_kpis(&dir, from, to)?;
    let _ = std::fs::remove_dir_all(&dir);
    let mismatches = disagreements(kpis, funnel, &d);
    let duck_ms = d["seconds"].as_f64().unwrap_or(0.0) * 1000.0;
    println!(
        "  duckdb {}:    {duck_ms:.0} ms for the same KPIs from CSV already loaded in memory; backroom warm is {:.1}x faster",
        d["version"].as_str().unwrap_or("?"),
        duck_ms / warm_ms.max(0.001)
    );
    if mismatches.is_empty() {
        println!("  numbers:         identical (totals, previous period, daily series, funnel)");
        Ok(())
    } else {
        for m in &mismatches {
            println!("  MISMATCH {m}");
        }
        bail!("duckdb and backroom disagree")
    }
}

/// The raw rows the DuckDB script reads, as one CSV file per table in `dir`.
fn export_raw_rows(rt: &tokio::runtime::Runtime, db: &Db, dir: &Path) -> Result<()> {
    // Each export: its name, the column it pages by (the first), and its query.
    let exports: [(&str, &str, &str); 5] = [
        (
            "events",
            "seq",
            "SELECT seq, visitor_id, ts, type, COALESCE(utm_source, ''), COALESCE(utm_medium, ''), COALESCE(utm_campaign, ''), COALESCE(referrer_host, ''), COALESCE(order_number, 0) FROM events WHERE seq > $1 ORDER BY seq LIMIT 200000",
        ),
        (
            "orders",
            "id",
            "SELECT id, number, placed_at, status, subtotal_minor - discounts_minor, customer_id FROM orders WHERE id > $1 ORDER BY id LIMIT 200000",
        ),
        (
            "lines",
            "id",
            "SELECT id, order_id, quantity, unit_price_minor * quantity - discount_minor, COALESCE(unit_cost_minor, -1), returned_quantity FROM order_lines WHERE id > $1 ORDER BY id LIMIT 200000",
        ),
        (
            "refunds",
            "id",
            "SELECT id, order_id, created_at, merchandise_minor FROM refunds WHERE id > $1 ORDER BY id LIMIT 200000",
        ),
        (
            "spend",
            "id",
            "SELECT id, day, amount_minor FROM ad_spend WHERE id > $1 ORDER BY id LIMIT 200000",
        ),
    ];
    for (name, key, sql) in exports {
        let mut f =
            std::io::BufWriter::new(std::fs::File::create(dir.join(format!("{name}.csv")))?);
        let mut after = 0i64;
        loop {
            let sql = sql.to_string();
            let rows = rt
                .block_on(db.read(move |tx| Ok(tx.query(&sql, &[after.into()])?)))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let Some(last) = rows.last() else { break };
            after = last.get::<i64>(key).map_err(|e| anyhow::anyhow!("{e}"))?;
            for r in &rows {
                // Every column alike, so by value: the queries give only integers and texts.
                let cells: Vec<String> = r
                    .values()
                    .iter()
                    .map(|v| {
                        backroom_core::analytics::export::csv_field(&match v {
                            Val::Text(s) => s.clone(),
                            Val::Int(n) => n.to_string(),
                            _ => String::new(),
                        })
                    })
                    .collect();
                writeln!(f, "{}", cells.join(","))?;
            }
        }
    }
    Ok(())
}

/// The DuckDB script's KPIs over the CSV files in `dir`, installing DuckDB from PyPI into a
/// virtualenv the first time.
fn duckdb_kpis(dir: &Path, from: i32, to: i32) -> Result<Value> {
    let venv = std::env::temp_dir().join("backroom-duckdb-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        eprintln!(
            "[duckdb] installing duckdb from PyPI into {}",
            venv.display()
        );
        let ok = std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()?
            .success()
            && std::process::Command::new(&python)
                .args(["-m", "pip", "install", "--quiet", "duckdb==1.1.3"])
                .status()?
                .success();
        if !ok {
            bail!("could not install duckdb from PyPI");
        }
    }
    let script = script_path()?;
    let out = std::process::Command::new(&python)
        .arg(&script)
        .arg(dir)
        .arg(backroom_domain::analytics::format_day(from))
        .arg(backroom_domain::analytics::format_day(to))
        .output()?;
    if !out.status.success() {
        bail!(
            "duckdb script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Where Backroom's dashboard and DuckDB's answer `d` differ, KPI by KPI.
fn disagreements(kpis: &Value, funnel: &Value, d: &Value) -> Vec<String> {
    // The same numbers, KPI by KPI.
    let mut mismatches = Vec::new();
    let ours = &kpis["totals"];
    for k in [
        "sessions",
        "unique_visitors",
        "orders",
        "gross_sales",
        "net_sales",
        "aov",
        "units_sold",
        "customers",
        "new_customers",
        "units_returned",
        "cogs",
        "attributed_sales",
    ] {
        if ours[k] != d["totals"][k] {
            mismatches.push(format!(
                "{k}: backroom {} duckdb {}",
                ours[k], d["totals"][k]
            ));
        }
    }
    for k in [
        "bounce_rate",
        "conversion_rate",
        "cart_abandonment_rate",
        "avg_session_seconds",
        "repeat_customer_rate",
        "gross_margin",
        "return_rate",
    ] {
        let (a, b) = (ours[k].as_f64(), d["totals"][k].as_f64());
        if !matches!((a, b), (Some(a), Some(b)) if (a - b).abs() <= 1e-9 * a.abs().max(1.0)) {
            mismatches.push(format!(
                "{k}: backroom {} duckdb {}",
                ours[k], d["totals"][k]
            ));
        }
    }
    let ours_prev = &kpis["previous"];
    for k in ["sessions", "orders", "net_sales"] {
        if ours_prev[k] != d["previous"][k] {
            mismatches.push(format!(
                "previous {k}: backroom {} duckdb {}",
                ours_prev[k], d["previous"][k]
            ));
        }
    }
    let funnel_ours: Vec<i64> = funnel
        .as_array()
        .map(|s| s.iter().filter_map(|x| x["sessions"].as_i64()).collect())
        .unwrap_or_default();
    let funnel_duck: Vec<i64> = serde_json::from_value(d["funnel"].clone()).unwrap_or_default();
    if funnel_ours != funnel_duck {
        mismatches.push(format!(
            "funnel: backroom {funnel_ours:?} duckdb {funnel_duck:?}"
        ));
    }
    let series_ours: Vec<(String, i64, i64)> = kpis["series"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|r| {
                    (
                        r["bucket"].as_str().unwrap_or("").to_string(),
                        r["kpis"]["sessions"].as_i64().unwrap_or(0),
                        r["kpis"]["net_sales"].as_i64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let series_duck: Vec<(String, i64, i64)> =
        serde_json::from_value(d["series"].clone()).unwrap_or_default();
    if series_ours != series_duck {
        mismatches.push("the daily series differ".into());
    }
    mismatches
}

fn script_path() -> Result<PathBuf> {
    let candidates = [
        PathBuf::from("bench/duckdb_kpis.py"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/duckdb_kpis.py"),
    ];
    candidates
        .into_iter()
        .find(|p| p.exists())
        .context("bench/duckdb_kpis.py not found: run from the repository")
}

/// Polls `sql` (one number, named `n`) once a second until it gives 0, for at most `seconds`.
fn wait_for_zero(
    rt: &tokio::runtime::Runtime,
    db: &Db,
    sql: &'static str,
    seconds: u32,
) -> Result<()> {
    for _ in 0..seconds {
        let n = rt
            .block_on(db.read(move |tx| {
                Ok(tx
                    .query_one(sql, &[])?
                    .map(|r| r.get::<i64>("n"))
                    .transpose()?
                    .unwrap_or(0))
            }))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if n == 0 {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    Ok(())
}
