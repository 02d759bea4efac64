//! `backroom bench orders`: places orders over HTTP against a real `backroom serve` process on a
//! fresh database, with N concurrent clients, and prints throughput, latency and oversold units.
//!
//! The catalog has many SKUs with deep stock plus one hot SKU with little stock that a tenth of the
//! orders ask for, so the run also exercises refusals under contention.

use anyhow::{Context, Result, bail};
use backroom_core::api::{NewProduct, NewUser, NewVariant, ReceiveStock};
use backroom_core::{Actor, Ctx, Db, auth, catalog, inventory, inventory::check};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    kind: BenchKind,
}

#[derive(clap::Subcommand)]
enum BenchKind {
    /// Order placement over HTTP.
    Orders {
        /// Concurrent clients.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// How long to load the server.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// SKUs with deep stock.
        #[arg(long, default_value_t = 1000)]
        skus: usize,
        /// Units of the hot SKU.
        #[arg(long, default_value_t = 2000)]
        hot_units: i64,
        /// Share of orders (in percent) that also ask for the hot SKU: a flash sale. 0 gives a
        /// uniform catalog.
        #[arg(long, default_value_t = 10)]
        hot_percent: u64,
        /// With 1,000 active automatic promotions (one per SKU, all combining) and a promotion
        /// with 100,000 single-use codes, a third of the orders carrying one.
        #[arg(long)]
        promotions: bool,
        /// `sqlite`, `postgres` or `both`.
        #[arg(long, default_value = "sqlite")]
        backend: String,
        /// PostgreSQL server for `--backend postgres`; a fresh schema is made in it.
        #[arg(long, env = "BACKROOM_BENCH_PG_URL")]
        pg_url: Option<String>,
    },
    /// Fulfillment over HTTP: places N orders, then concurrent workers ship them all.
    Fulfillment {
        /// Orders to place and ship.
        #[arg(long, default_value_t = 20_000)]
        orders: usize,
        /// Concurrent shipping workers.
        #[arg(long, default_value_t = 64)]
        workers: usize,
        /// SKUs with deep stock.
        #[arg(long, default_value_t = 1000)]
        skus: usize,
        /// `sqlite`, `postgres` or `both`.
        #[arg(long, default_value = "sqlite")]
        backend: String,
        /// PostgreSQL server for `--backend postgres`; a fresh schema is made in it.
        #[arg(long, env = "BACKROOM_BENCH_PG_URL")]
        pg_url: Option<String>,
    },
    /// Every console page on an existing store (the demo store by default): p50, p95 and max
    /// render time, signed in as its first admin.
    Console {
        /// The store to time.
        #[arg(long, default_value = "sqlite://backroom-demo.db")]
        store: String,
        /// Requests per page, after one warm-up.
        #[arg(long, default_value_t = 50)]
        rounds: usize,
    },
    /// The support desk: a long ticket history written in bulk, then the inbox views and the
    /// ticket page (API and console), inbound email from concurrent clients and the support
    /// report, through a real server.
    Support {
        /// Tickets in the history (five messages each on average).
        #[arg(long, default_value_t = 1_000_000)]
        tickets: u64,
        /// Inbound messages to post.
        #[arg(long, default_value_t = 20_000)]
        inbound: u64,
        /// Concurrent inbound clients.
        #[arg(long, default_value_t = 4)]
        clients: usize,
        /// Requests per page, after one warm-up.
        #[arg(long, default_value_t = 50)]
        rounds: usize,
        /// `sqlite`, `postgres` or `both`.
        #[arg(long, default_value = "sqlite")]
        backend: String,
        /// PostgreSQL server for `--backend postgres`; a fresh schema is made in it.
        #[arg(long, env = "BACKROOM_BENCH_PG_URL")]
        pg_url: Option<String>,
    },
    /// Storefront analytics: ingests events and orders through the API, then times the KPI
    /// dashboard cold and warm (and DuckDB on the same rows with `--duckdb`).
    Analytics {
        /// Storefront events to ingest.
        #[arg(long, default_value_t = 10_000_000)]
        events: u64,
        /// Orders to import.
        #[arg(long, default_value_t = 1_000_000)]
        orders: u64,
        /// Days of history, ending today.
        #[arg(long, default_value_t = 400)]
        days: i64,
        /// Concurrent ingest clients.
        #[arg(long, default_value_t = 4)]
        clients: usize,
        /// Events per request.
        #[arg(long, default_value_t = 10_000)]
        batch: u64,
        /// Also time DuckDB (installed from PyPI into a virtualenv) on the same rows.
        #[arg(long)]
        duckdb: bool,
        /// `sqlite`, `postgres` or `both`.
        #[arg(long, default_value = "sqlite")]
        backend: String,
        /// PostgreSQL server for `--backend postgres`; a fresh schema is made in it.
        #[arg(long, env = "BACKROOM_BENCH_PG_URL")]
        pg_url: Option<String>,
    },
}

pub fn run(_database_url: &str, args: BenchArgs) -> Result<()> {
    let (backend, pg_url) = match &args.kind {
        BenchKind::Console { store, rounds } => return crate::bench_console::run(store, *rounds),
        BenchKind::Orders {
            backend, pg_url, ..
        }
        | BenchKind::Fulfillment {
            backend, pg_url, ..
        }
        | BenchKind::Analytics {
            backend, pg_url, ..
        }
        | BenchKind::Support {
            backend, pg_url, ..
        } => (backend.clone(), pg_url.clone()),
    };
    let backends: Vec<&str> = match backend.as_str() {
        "both" => vec!["sqlite", "postgres"],
        "sqlite" | "postgres" => vec![backend.as_str()],
        _ => bail!("--backend must be sqlite, postgres or both"),
    };
    // The PostgreSQL schema a run makes and drops.
    let schema = format!("bench_{}", std::process::id());
    for b in backends {
        let url = match b {
            "sqlite" => {
                let dir =
                    std::env::temp_dir().join(format!("backroom-bench-{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&dir);
                format!("sqlite://{}", dir.join("bench.db").display())
            }
            _ => {
                let base = pg_url
                    .clone()
                    .context("--pg-url (or BACKROOM_BENCH_PG_URL) is needed for PostgreSQL")?;
                backroom_core::db::postgres::fresh_schema_url(&base, &schema)
                    .map_err(|e| anyhow::anyhow!("{e}"))?
            }
        };
        let result = match &args.kind {
            BenchKind::Console { .. } => Ok(()),
            BenchKind::Orders {
                clients,
                seconds,
                skus,
                hot_units,
                hot_percent,
                promotions,
                ..
            } => orders(
                b,
                &url,
                Load {
                    clients: *clients,
                    seconds: *seconds,
                    skus: *skus,
                    hot_percent: *hot_percent,
                    codes: Arc::new(Vec::new()),
                },
                *hot_units,
                *promotions,
            ),
            BenchKind::Fulfillment {
                orders,
                workers,
                skus,
                ..
            } => fulfillment(b, &url, *orders, *workers, *skus),
            BenchKind::Analytics {
                events,
                orders,
                days,
                clients,
                batch,
                duckdb,
                ..
            } => crate::bench_analytics::run(
                b,
                &url,
                &crate::bench_analytics::Args {
                    events: *events,
                    orders: *orders,
                    days: *days,
                    clients: *clients,
                    batch: *batch,
                    duckdb: *duckdb,
                },
            ),
            BenchKind::Support {
                tickets,
                inbound,
                clients,
                rounds,
                ..
            } => crate::bench_support::run(
                b,
                &url,
                &crate::bench_support::Args {
                    tickets: *tickets,
                    clients: *clients,
                    inbound: *inbound,
                    rounds: *rounds,
                },
            ),
        };
        // A run writes hundreds of megabytes: leave nothing behind (a PostgreSQL schema left
        // over would also keep autovacuum busy during the next run).
        if let Some(path) = url.strip_prefix("sqlite://")
            && let Some(dir) = std::path::Path::new(path).parent()
        {
            let _ = std::fs::remove_dir_all(dir);
        } else if let Some(base) = &pg_url {
            let _ = backroom_core::db::postgres::drop_schema(base, &schema);
        }
        result?;
    }
    Ok(())
}

/// Starts `backroom serve` on a free port over `url`; returns the child and the base URL.
pub(crate) fn spawn_server(url: &str) -> Result<(std::process::Child, String)> {
    spawn_server_with(url, &[])
}

/// [`spawn_server`] with extra environment variables for the child.
pub(crate) fn spawn_server_with(
    url: &str,
    env: &[(&str, &str)],
) -> Result<(std::process::Child, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = std::process::Command::new(std::env::current_exe()?)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", url)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .spawn()?;
    Ok((child, format!("http://127.0.0.1:{port}")))
}

pub(crate) async fn wait_up(http: &reqwest::Client, base: &str) -> Result<()> {
    for _ in 0..200 {
        if http
            .get(format!("{base}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the server did not start")
}

/// The CPU time (user and system) the server process has used so far, from `/proc` (Linux; none
/// elsewhere). On this noisy host a run's rate swings with the disk's fsync latency, while the
/// server's CPU per operation moves much less: the figure to compare builds by.
pub(crate) fn server_cpu_seconds(child: &std::process::Child) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).ok()?;
    // The fields after the command name (which may hold spaces): state is the first, utime the
    // twelfth and stime the thirteenth, in clock ticks (USER_HZ, 100 on Linux).
    let rest = stat.rsplit_once(") ")?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Prints the server's CPU time and its cost per operation, when it could be read.
fn print_cpu(cpu: Option<f64>, ops: usize, what: &str) {
    if let Some(cpu) = cpu.filter(|_| ops > 0) {
        println!(
            "  server CPU:      {cpu:.2} s ({:.0} us per {what}, start-up and background work included)",
            cpu * 1e6 / ops as f64
        );
    }
}

/// p in [0, 1] of sorted latencies in microseconds, as milliseconds.
pub(crate) fn percentile_ms(lat: &[u64], p: f64) -> f64 {
    lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0) as f64
        / 1000.0
}

fn fulfillment(backend: &str, url: &str, n: usize, workers: usize, skus: usize) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    eprintln!("[{backend}] seeding {skus} SKUs and placing {n} orders...");
    let token = rt.block_on(seed(url, skus, 0, "fulfillment"))?;
    let work = rt.block_on(place_for_shipping(url, n, skus))?;
    let shipments_planned: usize = work.iter().map(|(_, l)| l.len()).sum();
    let (mut child, base) = spawn_server(url)?;
    let result = rt.block_on(ship_all(base, token, work, workers));
    let cpu = server_cpu_seconds(&child);
    let _ = child.kill();
    let _ = child.wait();
    let (elapsed, errors, mut lat) = result?;
    let (check, fulfilled) = rt.block_on(shipped_state(url))?;
    lat.sort_unstable();
    let secs = elapsed.as_secs_f64();
    println!("backend={backend} orders={n} workers={workers} skus={skus}");
    println!(
        "  shipments:       {} in {secs:.1} s ({:.0} shipments/s)",
        lat.len(),
        lat.len() as f64 / secs
    );
    println!(
        "  orders shipped:  {fulfilled} of {n} ({:.0} orders/s)",
        fulfilled as f64 / secs
    );
    println!("  errors:          {errors}");
    println!(
        "  latency:         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile_ms(&lat, 0.50),
        percentile_ms(&lat, 0.99),
        percentile_ms(&lat, 1.0)
    );
    print_cpu(cpu, lat.len(), "shipment");
    println!(
        "  invariant check: {} ({} levels, {} violations)",
        if check.ok { "ok" } else { "FAILED" },
        check.levels_checked,
        check.violations.len()
    );
    if !check.ok || errors > 0 || fulfilled as usize != n || lat.len() != shipments_planned {
        bail!("the run broke an invariant, saw errors or left orders unshipped");
    }
    Ok(())
}

/// The fulfillment bench's orders, placed through the services (concurrently, so SQLite commits
/// them in groups); each comes back with the locations its units are reserved at.
async fn place_for_shipping(url: &str, n: usize, skus: usize) -> Result<Vec<(i64, Vec<i64>)>> {
    let db = Db::open(url).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut tasks = Vec::new();
    let per = n.div_ceil(16);
    for t in 0..16usize {
        let db = db.clone();
        let count = per.min(n.saturating_sub(t * per));
        tasks.push(tokio::spawn(async move {
            let mut rng = crate::demo::Rng::new(t as u64 + 7);
            let mut out = Vec::with_capacity(count);
            for _ in 0..count {
                let lines: Vec<backroom_core::api::SkuQuantity> = (0..rng.range(1, 4))
                    .map(|_| backroom_core::api::SkuQuantity {
                        sku: format!("SKU{:05}", rng.range(0, skus as i64)),
                        quantity: rng.range(1, 3),
                    })
                    .collect();
                let order: backroom_core::api::PlaceOrder = serde_json::from_value(json!({
                    "channel": "online",
                    "customer": {"email": format!("c{}@example.com", rng.range(0, 50_000))},
                    "shipping_address": {"name": "Bench", "line1": "1 Load St", "city": "Lyon", "postal_code": "69001", "country": "FR"},
                    "lines": lines,
                }))?;
                let placed = db
                    .write(move |tx| {
                        let c = Ctx::new(Actor::system(), backroom_core::util::now_micros());
                        backroom_core::orders::place(tx, &c, &order, None)
                    })
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let mut locs: Vec<i64> = placed
                    .order
                    .lines
                    .iter()
                    .flat_map(|l| l.allocations.iter().map(|a| a.location_id))
                    .collect();
                locs.sort_unstable();
                locs.dedup();
                out.push((placed.order.id, locs));
            }
            Ok::<_, anyhow::Error>(out)
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

/// Ships every (order, location) of `work` over HTTP with `workers` concurrent clients: the
/// elapsed time, the refused shipments and each shipment's latency in microseconds.
async fn ship_all(
    base: String,
    token: String,
    work: Vec<(i64, Vec<i64>)>,
    workers: usize,
) -> Result<(Duration, u64, Vec<u64>)> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(workers)
        .build()?;
    wait_up(&http, &base).await?;
    let work = Arc::new(work);
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (http, base, token, work, next, errors) = (
            http.clone(),
            base.clone(),
            token.clone(),
            work.clone(),
            next.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some((id, locs)) = work.get(i) else { break };
                for loc in locs {
                    let t0 = Instant::now();
                    let r = http
                        .post(format!("{base}/api/v1/orders/{id}/fulfillments"))
                        .bearer_auth(&token)
                        .json(&json!({"location_id": loc, "carrier": "UPS", "tracking_number": format!("1Z{id}")}))
                        .send()
                        .await;
                    let ok = match r {
                        Ok(r) => {
                            let ok = r.status().as_u16() == 201;
                            let _ = r.bytes().await;
                            ok
                        }
                        Err(_) => false,
                    };
                    lat.push(t0.elapsed().as_micros() as u64);
                    if !ok {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await?);
    }
    Ok((started.elapsed(), errors.load(Ordering::Relaxed), lat))
}

/// After the fulfillment bench: the invariant check and the number of fulfilled orders.
async fn shipped_state(url: &str) -> Result<(backroom_core::api::CheckReport, i64)> {
    let db = Db::open(url).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let r = db
        .read(check::run)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let f = count(
        &db,
        "SELECT COUNT(*) AS n FROM orders WHERE fulfillment_status = 'fulfilled'",
    )
    .await?;
    Ok((r, f))
}

/// The one number (named `n`) a query gives.
async fn count(db: &Db, sql: &'static str) -> Result<i64> {
    db.read(move |tx| {
        Ok(tx
            .query_one(sql, &[])?
            .map(|r| r.get::<i64>("n"))
            .transpose()?
            .unwrap_or(0))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))
}

/// What the order load does: its clients, how long, over how many SKUs, the share of orders
/// that also want the hot SKU, and the single-use codes a third of the orders carry (none:
/// no codes).
#[derive(Clone)]
struct Load {
    clients: usize,
    seconds: u64,
    skus: usize,
    hot_percent: u64,
    codes: Arc<Vec<String>>,
}

/// The promotions of `bench orders --promotions`: 1,000 automatic ones, one per SKU (5 to 20%
/// off its lines, all combining), and one with 100,000 single-use codes; returns the codes.
async fn seed_promotions(url: &str, skus: usize) -> Result<Vec<String>> {
    use backroom_core::promotions::{self, NewPromotion, PromotionConditions, codes};
    let db = Db::open(url).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let n = skus.min(1000);
    db.write(move |tx| {
        let c = Ctx::new(Actor::system(), backroom_core::util::now_micros());
        for i in 0..n {
            promotions::create(
                tx,
                &c,
                &NewPromotion {
                    name: format!("Auto {i}"),
                    kind: "percentage".into(),
                    value: Some(format!("{}", 5 + i % 16)),
                    applies_to: Some("lines".into()),
                    automatic: Some(true),
                    combines: Some(true),
                    conditions: Some(PromotionConditions {
                        variants: vec![format!("SKU{i:05}")],
                        min_quantity: (i % 4 == 0).then_some(2),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )?;
        }
        let p = promotions::create(
            tx,
            &c,
            &NewPromotion {
                name: "Bench codes".into(),
                kind: "percentage".into(),
                value: Some("10".into()),
                combines: Some(true),
                ..Default::default()
            },
        )?;
        codes::generate(
            tx,
            &c,
            p.id,
            &codes::NewCodes {
                count: 100_000,
                prefix: Some("B-".into()),
                ..Default::default()
            },
        )?;
        Ok(codes::list(tx, &c, p.id, 0, 100_000)?
            .into_iter()
            .map(|c| c.code)
            .collect())
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))
}

fn orders(backend: &str, url: &str, mut l: Load, hot_units: i64, promotions: bool) -> Result<()> {
    let Load {
        clients,
        seconds,
        skus,
        hot_percent,
        ..
    } = l.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    eprintln!("[{backend}] seeding {skus} SKUs...");
    let token = rt.block_on(seed(url, skus, hot_units, "storefront"))?;
    if promotions {
        eprintln!("[{backend}] seeding 1,000 automatic promotions and 100,000 codes...");
        l.codes = Arc::new(rt.block_on(seed_promotions(url, skus))?);
    }
    let (mut child, base) = spawn_server(url)?;
    let result = rt.block_on(load(&base, &token, l));
    let cpu = server_cpu_seconds(&child);
    let _ = child.kill();
    let _ = child.wait();
    let (placed, refused, errors, mut lat) = result?;
    let report = rt.block_on(async {
        let db = Db::open(url).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let r = db
            .read(check::run)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let hot = db
            .read(|tx| inventory::sku_stock(tx, "HOT"))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        // Orders whose changes the background worker had not yet folded into the KPI rollups
        // when the load stopped: whether it kept up.
        let behind = count(
            &db,
            "SELECT COUNT(DISTINCT order_id) AS n FROM an_dirty_orders",
        )
        .await?;
        let discounted = count(
            &db,
            "SELECT COUNT(*) AS n FROM orders WHERE discounts_minor > 0",
        )
        .await?;
        let coded = count(
            &db,
            "SELECT COUNT(*) AS n FROM promotion_redemptions WHERE code_id IS NOT NULL",
        )
        .await?;
        Ok::<_, anyhow::Error>((r, hot, behind, discounted, coded))
    })?;
    let (check, hot, behind, discounted, coded) = report;
    let oversold: i64 = check
        .violations
        .iter()
        .filter(|v| v.rule == "negative_available")
        .map(|v| -v.recorded)
        .sum::<i64>()
        + (hot.totals.reserved - hot_units).max(0);
    lat.sort_unstable();
    let pct = |p: f64| percentile_ms(&lat, p);
    println!(
        "backend={backend} clients={clients} seconds={seconds} skus={skus} hot_percent={hot_percent}"
    );
    println!(
        "  orders placed:   {placed} ({:.0} orders/s)",
        placed as f64 / seconds as f64
    );
    println!(
        "  refused (409):   {refused} (hot SKU sold out: {} of {hot_units} reserved)",
        hot.totals.reserved
    );
    println!("  errors:          {errors}");
    println!(
        "  latency:         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    print_cpu(cpu, placed as usize, "order");
    println!("  oversold units:  {oversold}");
    println!("  rollups behind:  {behind} orders not yet in the KPI rollups when the load stopped");
    if promotions {
        println!(
            "  promotions:      {discounted} orders discounted, {coded} single-use codes redeemed"
        );
    }
    println!(
        "  invariant check: {} ({} levels, {} violations)",
        if check.ok { "ok" } else { "FAILED" },
        check.levels_checked,
        check.violations.len()
    );
    if oversold > 0 || !check.ok || errors > 0 {
        bail!("the run oversold, broke an invariant or saw errors");
    }
    Ok(())
}

/// A bench store: the small-store layout, `skus` SKUs with deep stock in both warehouses plus the
/// `HOT` SKU, and a token for a user with `role`.
pub(crate) async fn seed(url: &str, skus: usize, hot_units: i64, role: &str) -> Result<String> {
    let db = Db::open(url).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let user = Arc::new(
        auth::prepare_user(&NewUser {
            email: "bench@example.com".into(),
            name: format!("Bench {role}"),
            role: role.into(),
            password: None,
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let token = db
        .write(move |tx| {
            let c = Ctx::new(Actor::system(), backroom_core::util::now_micros());
            let store = backroom_core::fixtures::small_store(tx, &c)?;
            let mut all: Vec<String> = (0..skus).map(|i| format!("SKU{i:05}")).collect();
            all.push("HOT".into());
            for (k, chunk) in all.chunks(10).enumerate() {
                catalog::create_product(
                    tx,
                    &c,
                    &NewProduct {
                        title: format!("Bench product {k}"),
                        status: Some("active".into()),
                        variants: chunk
                            .iter()
                            .enumerate()
                            .map(|(i, s)| NewVariant {
                                sku: s.clone(),
                                title: Some(format!("V{i}")),
                                price: 1000 + i as i64 * 100,
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    },
                )?;
            }
            for s in &all {
                let q = if s == "HOT" { hot_units / 2 } else { 1_000_000 };
                if q == 0 {
                    continue;
                }
                for l in [store.a, store.b] {
                    inventory::receive(
                        tx,
                        &c,
                        &ReceiveStock {
                            sku: s.clone(),
                            location_id: l,
                            quantity: q,
                            note: None,
                        },
                    )?;
                }
            }
            let u = auth::create_user(tx, &c, &user)?;
            Ok(auth::issue_api_token(tx, &c, &u.email, "bench")?.token)
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // A store in service has planner statistics (autovacuum analyzes a table within a minute of
    // a bulk change); a freshly seeded one has none, and its first plans would scan the catalog
    // and stock tables whole. Analyze them as after any bulk load.
    if db.dialect() == backroom_core::db::Dialect::Postgres {
        db.write(|tx| {
            tx.exec(
                "ANALYZE products, variants, locations, channels, channel_locations, channel_buffers, inventory_levels, settings, shipping_rates",
                &[],
            )?;
            Ok(())
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(token)
}

async fn load(base: &str, token: &str, l: Load) -> Result<(u64, u64, u64, Vec<u64>)> {
    let Load {
        clients,
        seconds,
        skus,
        hot_percent,
        codes,
    } = l;
    let next_code = Arc::new(AtomicU64::new(0));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    wait_up(&http, base).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let (placed, refused, errors) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, base, token, stop, placed, refused, errors) = (
            http.clone(),
            base.to_string(),
            token.to_string(),
            stop.clone(),
            placed.clone(),
            refused.clone(),
            errors.clone(),
        );
        let (codes, next_code) = (codes.clone(), next_code.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = crate::demo::Rng::new(c as u64 + 1);
            let mut lat = Vec::with_capacity(8192);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let n = rng.range(1, 4);
                let mut lines: Vec<serde_json::Value> = (0..n).map(|_| json!({"sku": format!("SKU{:05}", rng.range(0, skus as i64)), "quantity": rng.range(1, 3)})).collect();
                if rng.chance(hot_percent) {
                    lines.push(json!({"sku": "HOT", "quantity": 1}));
                }
                let mut body = json!({
                    "channel": "online",
                    "customer": {"email": format!("c{}@example.com", rng.range(0, 50_000)), "first_name": "Bench"},
                    "shipping_address": {"name": "Bench", "line1": "1 Load St", "city": "Lyon", "postal_code": "69001", "country": "FR"},
                    "lines": lines,
                });
                if !codes.is_empty() && rng.chance(33) {
                    let k = next_code.fetch_add(1, Ordering::Relaxed) as usize;
                    if let Some(code) = codes.get(k) {
                        body["discount_codes"] = json!([code]);
                    }
                }
                let t0 = Instant::now();
                let r = http.post(format!("{base}/api/v1/orders")).bearer_auth(&token).header("Idempotency-Key", format!("{c}-{i}")).json(&body).send().await;
                let status = match r {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        let _ = r.bytes().await;
                        s
                    }
                    Err(_) => 0,
                };
                lat.push(t0.elapsed().as_micros() as u64);
                match status {
                    201 => placed.fetch_add(1, Ordering::Relaxed),
                    409 => refused.fetch_add(1, Ordering::Relaxed),
                    _ => errors.fetch_add(1, Ordering::Relaxed),
                };
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await?);
    }
    Ok((
        placed.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        lat,
    ))
}
