//! `backroom bench orders`: places orders over HTTP against a real `backroom serve` process on a
//! fresh database, with N concurrent clients, and prints throughput, latency and oversold units.
//!
//! The catalog has many SKUs with deep stock plus one hot SKU with little stock that a tenth of the
//! orders ask for, so the run also exercises refusals under contention.

use anyhow::{Context, Result, bail};
use backroom_core::api::{NewProduct, NewUser, NewVariant, ReceiveStock};
use backroom_core::{Actor, Ctx, Db, auth, catalog, check, inventory};
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
        /// `sqlite`, `postgres` or `both`.
        #[arg(long, default_value = "sqlite")]
        backend: String,
        /// PostgreSQL server for `--backend postgres`; a fresh schema is made in it.
        #[arg(long, env = "BACKROOM_BENCH_PG_URL")]
        pg_url: Option<String>,
    },
}

pub fn run(_database_url: &str, args: BenchArgs) -> Result<()> {
    let BenchKind::Orders {
        clients,
        seconds,
        skus,
        hot_units,
        hot_percent,
        backend,
        pg_url,
    } = args.kind;
    let backends: Vec<&str> = match backend.as_str() {
        "both" => vec!["sqlite", "postgres"],
        "sqlite" | "postgres" => vec![backend.as_str()],
        _ => bail!("--backend must be sqlite, postgres or both"),
    };
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
                backroom_core::db::postgres::fresh_schema_url(
                    &base,
                    &format!("bench_{}", std::process::id()),
                )
                .map_err(|e| anyhow::anyhow!("{e}"))?
            }
        };
        let result = orders(b, &url, clients, seconds, skus, hot_units, hot_percent);
        // A run writes hundreds of megabytes: leave nothing behind.
        if let Some(path) = url.strip_prefix("sqlite://")
            && let Some(dir) = std::path::Path::new(path).parent()
        {
            let _ = std::fs::remove_dir_all(dir);
        }
        result?;
    }
    Ok(())
}

fn orders(
    backend: &str,
    url: &str,
    clients: usize,
    seconds: u64,
    skus: usize,
    hot_units: i64,
    hot_percent: u64,
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    eprintln!("[{backend}] seeding {skus} SKUs...");
    let token = rt.block_on(seed(url, skus, hot_units))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", url)
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let base = format!("http://127.0.0.1:{port}");
    let result = rt.block_on(load(&base, &token, clients, seconds, skus, hot_percent));
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
        Ok::<_, anyhow::Error>((r, hot))
    })?;
    let (check, hot) = report;
    let oversold: i64 = check
        .violations
        .iter()
        .filter(|v| v.rule == "negative_available")
        .map(|v| -v.recorded)
        .sum::<i64>()
        + (hot.totals.reserved - hot_units).max(0);
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
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
    println!("  oversold units:  {oversold}");
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

async fn seed(url: &str, skus: usize, hot_units: i64) -> Result<String> {
    let db = Db::open(url).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let user = Arc::new(
        auth::prepare_user(&NewUser {
            email: "bench@example.com".into(),
            name: "Bench storefront".into(),
            role: "storefront".into(),
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
    Ok(token)
}

async fn load(
    base: &str,
    token: &str,
    clients: usize,
    seconds: u64,
    skus: usize,
    hot_percent: u64,
) -> Result<(u64, u64, u64, Vec<u64>)> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let mut up = false;
    for _ in 0..200 {
        if http
            .get(format!("{base}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !up {
        bail!("the server did not start");
    }
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
                let body = json!({
                    "channel": "online",
                    "customer": {"email": format!("c{}@example.com", rng.range(0, 50_000)), "first_name": "Bench"},
                    "shipping_address": {"name": "Bench", "line1": "1 Load St", "city": "Lyon", "postal_code": "69001", "country": "FR"},
                    "lines": lines,
                });
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
