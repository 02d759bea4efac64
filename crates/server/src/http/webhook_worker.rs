//! The background worker: claims due webhook deliveries from the outbox, sends them signed, records
//! the outcome; expires uncollected pickup orders; and derives sessions from new storefront events.
//! Runs beside the HTTP server; any number of servers may run one (fan-out takes turns, claims are
//! leased). Each subscription receives its events in order.

use backroom_core::webhooks::{self, Claimed};
use backroom_core::{Db, util::now_micros};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// How often to look for due deliveries when there were none.
    pub poll: Duration,
    /// The first retry waits this long; each later one twice as long, up to an hour.
    pub backoff_base: Duration,
    /// How long a claimed delivery is reserved for the worker that claimed it.
    pub lease: Duration,
    /// How long a receiver has to answer.
    pub timeout: Duration,
    /// How often uncollected pickup orders are checked against their deadline, and imports
    /// whose server stopped are failed.
    pub expire_every: Duration,
    /// How often new storefront events are derived into sessions.
    pub analytics_every: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig::new(
            Duration::from_secs(10),
            Duration::from_secs(10),
            Some(Duration::from_secs(2)),
        )
    }
}

impl WorkerConfig {
    /// A worker whose receivers have `timeout` to answer (a claim's lease is six times that, so a
    /// live worker's slow send is never claimed twice), whose first retry waits `backoff_base`,
    /// and that derives storefront events every `analytics_every` (`None`: never; reports still
    /// derive what they need first).
    pub fn new(
        timeout: Duration,
        backoff_base: Duration,
        analytics_every: Option<Duration>,
    ) -> Self {
        WorkerConfig {
            poll: Duration::from_millis(500),
            backoff_base,
            lease: timeout * 6,
            timeout,
            expire_every: Duration::from_secs(60),
            analytics_every: analytics_every.unwrap_or(Duration::from_secs(u64::from(u32::MAX))),
        }
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Runs until the task is aborted.
pub async fn run(db: Db, cfg: WorkerConfig) {
    let db = db.background();
    let client = match reqwest::Client::builder().timeout(cfg.timeout).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook worker cannot build an HTTP client");
            return;
        }
    };
    let mut last_expiry = std::time::Instant::now() - cfg.expire_every;
    let mut last_analytics = std::time::Instant::now();
    loop {
        // New storefront events become sessions and changed orders reach the rollups in the
        // background, so reports find little to do.
        if last_analytics.elapsed() >= cfg.analytics_every {
            last_analytics = std::time::Instant::now();
            if let Err(e) = backroom_core::analytics::refresh::run_paced(&db).await {
                tracing::warn!(error = %e, "deriving sessions failed");
            }
        }
        // Uncollected pickup orders past their deadline are cancelled and their stock released.
        if last_expiry.elapsed() >= cfg.expire_every {
            last_expiry = std::time::Instant::now();
            match db
                .write(|tx| {
                    backroom_core::fulfillment::expire_pickups(
                        tx,
                        &backroom_core::Ctx::system_now(),
                    )
                })
                .await
            {
                Ok(ids) if !ids.is_empty() => {
                    tracing::info!(orders = ids.len(), "expired uncollected pickup orders")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "expiring pickups failed"),
            }
            // Imports whose server stopped mid-way (their lease ran out) are failed.
            match db
                .write(|tx| {
                    backroom_core::imports::jobs::fail_abandoned(
                        tx,
                        backroom_core::util::now_micros(),
                    )
                })
                .await
            {
                Ok(ids) if !ids.is_empty() => {
                    tracing::warn!(imports = ?ids, "failed imports whose server stopped")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "failing abandoned imports failed"),
            }
        }
        // New events become deliveries (one per subscription that wants them), then due
        // deliveries are claimed: one unit of work, so an idle worker writes once a turn.
        let now = now_micros();
        let lease = micros(cfg.lease);
        let claimed = match db
            .write(move |tx| {
                webhooks::fan_out(tx, now)?;
                webhooks::claim(tx, now, 32, lease)
            })
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "webhook fan-out and claim failed");
                Vec::new()
            }
        };
        if claimed.is_empty() {
            tokio::time::sleep(cfg.poll).await;
            continue;
        }
        // Subscriptions are served side by side; each one's deliveries one after another, in
        // order, stopping at the first failure so that a later event never overtakes it.
        let sends = claimed.into_iter().map(|group| {
            let (client, db, base) = (client.clone(), db.clone(), micros(cfg.backoff_base));
            async move { send_in_order(&client, &db, group, base).await }
        });
        futures_join_all(sends).await;
    }
}

async fn send_in_order(client: &reqwest::Client, db: &Db, group: Vec<Claimed>, base: i64) {
    let mut rest = group.into_iter();
    while let Some(c) = rest.next() {
        let (status, error) = send(client, &c).await;
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        let unsent: Vec<Claimed> = if ok {
            Vec::new()
        } else {
            rest.by_ref().collect()
        };
        let done = db
            .write(move |tx| {
                webhooks::complete(tx, now_micros(), &c, status, error.as_deref(), base)?;
                webhooks::release(tx, now_micros(), &unsent)
            })
            .await;
        if let Err(e) = done {
            tracing::warn!(error = %e, "recording a webhook attempt failed");
            return;
        }
    }
}

async fn send(client: &reqwest::Client, c: &Claimed) -> (Option<i64>, Option<String>) {
    let ts = now_micros() / 1_000_000;
    let r = client
        .post(&c.url)
        .header("content-type", "application/json")
        .header("backroom-event", &c.event_type)
        .header("backroom-delivery", c.delivery_id.to_string())
        .header(
            "backroom-signature",
            webhooks::signature(&c.secret, ts, &c.body),
        )
        .body(c.body.clone())
        .send()
        .await;
    match r {
        Ok(resp) => {
            let status = i64::from(resp.status().as_u16());
            let ok = resp.status().is_success();
            (
                Some(status),
                if ok {
                    None
                } else {
                    Some(format!("receiver answered {status}"))
                },
            )
        }
        Err(e) => (None, Some(e.to_string())),
    }
}

/// Waits for every future (the sends of one batch run concurrently).
async fn futures_join_all<F: std::future::Future<Output = ()> + Send + 'static>(
    fs: impl Iterator<Item = F>,
) {
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    for h in handles {
        let _ = h.await;
    }
}
