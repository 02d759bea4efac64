//! `backroom bench console`: times every console page on an existing store (the demo store by
//! default), signed in as its first admin, through the real router over loopback HTTP. The time
//! is the client's, so it includes the HTTP round trip: an upper bound of the server's render.

use anyhow::{Context, Result};
use backroom_core::{Actor, Ctx, Db, auth};
use std::time::Instant;

pub fn run(url: &str, rounds: usize) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(bench(url, rounds.max(1)))
}

fn err(e: backroom_core::Error) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

async fn bench(url: &str, rounds: usize) -> Result<()> {
    let db = Db::open(url).await.map_err(err)?;
    // A session for the first active admin, revoked at the end.
    let (token, pages) = db
        .write(|tx| {
            let ctx = Ctx::new(Actor::system(), backroom_core::util::now_micros());
            let email = tx
                .query_one(
                    "SELECT email FROM users WHERE role = 'admin' AND active = TRUE ORDER BY id LIMIT 1",
                    &[],
                )?
                .map(|r| r.get::<String>("email"))
                .transpose()?
                .ok_or(backroom_core::Error::NotFound { entity: "admin user" })?;
            let t = auth::issue_api_token(tx, &ctx, &email, "console bench")?;
            let one = |tx: &mut dyn backroom_core::Sql, sql: &str| -> backroom_core::Result<String> {
                // One number, named `n`; NULL (an empty table) gives 0, which no page has.
                let n = match tx.query_one(sql, &[])? {
                    Some(r) => r.get::<Option<i64>>("n")?,
                    None => None,
                };
                Ok(n.unwrap_or(0).to_string())
            };
            let order = one(tx, "SELECT MAX(id) AS n FROM orders")?;
            let product = one(tx, "SELECT MAX(id) AS n FROM products")?;
            let customer = one(tx, "SELECT MAX(customer_id) AS n FROM orders")?;
            let location = one(tx, "SELECT MIN(id) AS n FROM locations")?;
            let ticket = one(tx, "SELECT MAX(id) AS n FROM support_tickets")?;
            let sku = tx
                .query_one("SELECT sku FROM variants ORDER BY id LIMIT 1", &[])?
                .map(|r| r.get::<String>("sku"))
                .transpose()?
                .unwrap_or_default();
            let pages: Vec<String> = vec![
                "/console".into(),
                "/console/products".into(),
                "/console/products?stock=low&sort=title".into(),
                format!("/console/products/{product}"),
                "/console/inventory".into(),
                format!("/console/inventory/sku?sku={sku}"),
                "/console/inventory/low".into(),
                "/console/transfers".into(),
                "/console/orders".into(),
                "/console/orders?late=yes".into(),
                format!("/console/orders/{order}"),
                "/console/orders/new".into(),
                format!("/console/pick-list?location_id={location}"),
                "/console/returns?to_inspect=yes".into(),
                "/console/customers".into(),
                format!("/console/customers/{customer}"),
                "/console/support".into(),
                "/console/support?view=all".into(),
                "/console/support?view=breached".into(),
                format!("/console/support/{ticket}"),
                "/console/support/workload".into(),
                "/console/support/reports".into(),
                "/console/support/reports?breakdown=agent&by=week".into(),
                "/console/analytics".into(),
                "/console/analytics?by=week".into(),
                "/console/analytics?view=breakdown&breakdown=channel".into(),
                "/console/analytics?view=top".into(),
                "/console/analytics?view=customers".into(),
                "/console/settings/locations".into(),
                "/console/settings/channels".into(),
                "/console/settings/users".into(),
                "/console/settings/tokens".into(),
                "/console/settings/webhooks".into(),
                "/console/settings/imports".into(),
                "/console/settings/audit".into(),
                "/console/search?q=smith".into(),
                format!("/console/search?q={sku}"),
                "/console/help".into(),
            ];
            Ok((t.token, pages))
        })
        .await
        .map_err(err)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(backroom::http::serve(
        listener,
        backroom::http::App::new(db.clone()),
        std::future::pending(),
    ));
    let http = reqwest::Client::new();
    let cookie = format!("backroom_session={token}");
    println!("console pages on {url}, {rounds} rounds each after one warm-up (ms, client side)");
    println!("{:<48} {:>7} {:>7} {:>7}", "page", "p50", "p95", "max");
    let mut worst = 0.0f64;
    for p in &pages {
        let mut times = Vec::with_capacity(rounds);
        for i in 0..=rounds {
            let t = Instant::now();
            let r = http
                .get(format!("{base}{p}"))
                .header("cookie", &cookie)
                .send()
                .await
                .with_context(|| format!("GET {p}"))?;
            let status = r.status();
            let _ = r.bytes().await?;
            anyhow::ensure!(status.is_success(), "GET {p}: {status}");
            if i > 0 {
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        let max = times[times.len() - 1];
        worst = worst.max(at(0.95));
        println!("{p:<48} {:>7.1} {:>7.1} {max:>7.1}", at(0.5), at(0.95));
    }
    println!("slowest p95: {worst:.1} ms (target: under 50 ms)");
    server.abort();
    db.write(move |tx| {
        tx.exec(
            "UPDATE api_tokens SET revoked_at = $1 WHERE name = 'console bench' AND revoked_at IS NULL",
            backroom_core::params![backroom_core::util::now_micros()],
        )?;
        Ok(())
    })
    .await
    .map_err(err)?;
    Ok(())
}
