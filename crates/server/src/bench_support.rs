//! `backroom bench support`: a desk with a long history (a million tickets and five million
//! messages by default, written in bulk: loading is not what is timed), then, through a real
//! `backroom serve` over loopback HTTP: the inbox views and the ticket page (API and console)
//! at p50/p95, inbound email from concurrent clients (each message committed before its
//! answer), and the support report over the last 30 days.

use crate::bench::{percentile_ms, seed, wait_up};
use anyhow::{Context, Result};
use backroom_core::api::NewUser;
use backroom_core::support::sla::{self, NewPolicy};
use backroom_core::support::teams::{self, MemberPatch, NewTeam};
use backroom_core::{Actor, Ctx, Db, auth};
use serde_json::{Value, json};
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Args {
    pub tickets: u64,
    pub clients: usize,
    pub inbound: u64,
    pub rounds: usize,
}

const AGENTS: usize = 40;
const TEAMS: usize = 4;
const MINUTE: i64 = 60_000_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// Tickets per transaction while loading.
const BATCH: u64 = 2_000;

fn err(e: backroom_core::Error) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// A cheap, deterministic hash of a number: the generator of the history.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The agents (members who work tickets) and the teams they are in, made through the desk's
/// services; returns the agents' ids, the teams' ids and the policy of normal tickets.
async fn set_up(db: &Db) -> Result<(Vec<i64>, Vec<i64>, i64)> {
    db.write(|tx| {
        let ctx = Ctx::new(Actor::system(), backroom_core::util::now_micros());
        let mut agents = Vec::new();
        for i in 0..AGENTS {
            let u = auth::prepare_user(&NewUser {
                email: format!("agent{i}@bench.example"),
                name: format!("Agent {i:02}"),
                role: "support".into(),
                password: None,
            })?;
            agents.push(auth::create_user(tx, &ctx, &u)?.id);
        }
        let mut team_ids = Vec::new();
        for t in 0..TEAMS {
            let team = teams::create_team(
                tx,
                &ctx,
                &NewTeam {
                    name: format!("Team {t}"),
                    assignment: Some("balanced".into()),
                },
            )?;
            for (i, a) in agents.iter().enumerate() {
                if i % TEAMS == t {
                    teams::set_member(
                        tx,
                        &ctx,
                        team.id,
                        *a,
                        &MemberPatch {
                            available: Some(true),
                            capacity: None,
                        },
                    )?;
                }
            }
            team_ids.push(team.id);
        }
        let policy = sla::create_policy(
            tx,
            &ctx,
            &NewPolicy {
                name: "Normal".into(),
                priority: "normal".into(),
                first_reply_minutes: Some(8 * 60),
                resolution_minutes: Some(48 * 60),
                ..Default::default()
            },
        )?;
        Ok((agents, team_ids, policy.id))
    })
    .await
    .map_err(err)
}

/// What the loader writes: SQL text for one batch of tickets, their messages, status history
/// and ratings (values are generated, never from outside, so they are written inline).
struct Batch {
    tickets: String,
    messages: String,
    changes: String,
    csat: String,
}

struct Plan {
    n: u64,
    now: i64,
    agents: Vec<i64>,
    teams: Vec<i64>,
    policy: i64,
    first_customer: i64,
    customers: u64,
}

const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];
const CHANNELS: [&str; 4] = ["email", "chat", "form", "phone"];

impl Plan {
    /// Ticket `i` (0-based; its id is `i + 1`) and everything under it.
    fn ticket(&self, i: u64, b: &mut Batch, msg_id: &mut i64) {
        let h = mix(i);
        let id = i as i64 + 1;
        // Two years, oldest first, the last days busier.
        let age = (2 * 365 * DAY) as f64 * (1.0 - (i as f64 + 0.5) / self.n as f64).powf(1.3);
        let created = self.now - age as i64 - (h % 600) as i64 * MINUTE / 10;
        let recent = self.now - created < 3 * DAY;
        let status = match (recent, h % 100) {
            (true, 0..=19) => "new",
            (true, 20..=59) => "open",
            (true, 60..=84) => "pending",
            (true, _) => "on_hold",
            (false, 0..=1) => "open",
            (false, _) if self.now - created < 7 * DAY => "solved",
            _ => "closed",
        };
        let priority = PRIORITIES[match (h >> 8) % 20 {
            0..=3 => 0,
            4..=15 => 1,
            16..=18 => 2,
            _ => 3,
        }];
        let channel = CHANNELS[((h >> 16) % 4) as usize];
        let team = self.teams[(i % self.teams.len() as u64) as usize];
        let assigned = status != "new" || (h >> 20).is_multiple_of(5);
        let assignee = self.agents[((h >> 24) % self.agents.len() as u64) as usize];
        let c = (h >> 32) % self.customers;
        let customer = self.first_customer + c as i64;
        // The conversation: the customer, then an agent, and so on; one note in five tickets.
        let n_msgs = 1 + (h >> 40) % 9;
        let mut t = created;
        let mut first_reply = None;
        for k in 0..n_msgs {
            let agent = k % 2 == 1 && status != "new";
            if k > 0 {
                t += ((h >> (k % 8)) % 600) as i64 * MINUTE / 3 + 5 * MINUTE;
            }
            if t > self.now - MINUTE {
                break;
            }
            let (kind, user, public) = if agent {
                first_reply.get_or_insert(t);
                (
                    "agent",
                    assignee.to_string(),
                    k != 3 || !(h >> 44).is_multiple_of(5),
                )
            } else {
                ("customer", "NULL".to_string(), true)
            };
            let _ = write!(
                b.messages,
                "{}({}, {id}, '{kind}', {user}, {}, {}, 'Message {k} on ticket {id}: where is my parcel? It was due on Monday and the tracking page has said in transit for days.', {t})",
                if b.messages.is_empty() { "" } else { "," },
                *msg_id,
                if kind == "customer" {
                    format!("'c{c}@bench.example'")
                } else {
                    "NULL".into()
                },
                if public { "TRUE" } else { "FALSE" },
            );
            *msg_id += 1;
        }
        let last = t;
        let solved = matches!(status, "solved" | "closed").then_some(last + 30 * MINUTE);
        let closed = (status == "closed").then(|| last + 4 * DAY);
        let mut change = |s: &str, at: i64| {
            let _ = write!(
                b.changes,
                "{}({id}, '{s}', {at})",
                if b.changes.is_empty() { "" } else { "," }
            );
        };
        change("new", created);
        if let Some(f) = first_reply {
            change(if status == "new" { "new" } else { "pending" }, f);
        }
        match status {
            "solved" | "closed" => {
                change("solved", solved.unwrap_or(last));
                if let Some(c) = closed {
                    change("closed", c);
                }
            }
            "new" => {}
            s => change(s, last),
        }
        // Unsolved normal tickets run against the policy: some are past due.
        let running = matches!(status, "new" | "open" | "on_hold");
        let due = (running && priority == "normal").then(|| created + 8 * HOUR);
        let sql_opt = |v: Option<i64>| v.map_or("NULL".to_string(), |v| v.to_string());
        let _ = write!(
            b.tickets,
            "{}({id}, 'Where is order {}?', '{channel}', '{status}', '{priority}', '[]', 'c{c}@bench.example', 'Customer {c}', {customer}, {team}, {}, {created}, {}, {}, {}, {}, {}, {}, {})",
            if b.tickets.is_empty() { "" } else { "," },
            100_000 + i,
            if assigned {
                assignee.to_string()
            } else {
                "NULL".into()
            },
            closed.or(solved).unwrap_or(last),
            sql_opt(first_reply),
            sql_opt(solved),
            sql_opt(closed),
            if priority == "normal" {
                self.policy.to_string()
            } else {
                "NULL".into()
            },
            sql_opt(due.filter(|_| first_reply.is_none())),
            sql_opt(due),
        );
        if let Some(s) = solved.filter(|_| (h >> 48) % 10 < 3) {
            let _ = write!(
                b.csat,
                "{}({id}, 'bench-{id}', '{}', {s}, {s})",
                if b.csat.is_empty() { "" } else { "," },
                if (h >> 52) % 100 < 85 { "good" } else { "bad" },
            );
        }
    }
}

/// Writes the whole history, a batch of tickets per transaction.
async fn load(db: &Db, plan: Arc<Plan>) -> Result<u64> {
    let messages = Arc::new(AtomicU64::new(0));
    // The customers the tickets come from.
    let p = plan.clone();
    db.write(move |tx| {
        let mut from = 0;
        while from < p.customers {
            let to = (from + 5_000).min(p.customers);
            let mut sql = String::from(
                "INSERT INTO customers (id, email, email_key, first_name, last_name, created_at, updated_at) VALUES ",
            );
            for c in from..to {
                let id = p.first_customer + c as i64;
                let _ = write!(
                    sql,
                    "{}({id}, 'c{c}@bench.example', 'c{c}@bench.example', 'Customer', '{c}', {}, {})",
                    if c == from { "" } else { "," },
                    p.now - 800 * DAY,
                    p.now - 800 * DAY
                );
            }
            tx.exec(&sql, &[])?;
            from = to;
        }
        Ok(())
    })
    .await
    .map_err(err)?;
    let mut msg_id = 1i64;
    let mut i = 0;
    while i < plan.n {
        let mut b = Batch {
            tickets: String::new(),
            messages: String::new(),
            changes: String::new(),
            csat: String::new(),
        };
        let end = (i + BATCH).min(plan.n);
        let before = msg_id;
        for k in i..end {
            plan.ticket(k, &mut b, &mut msg_id);
        }
        messages.fetch_add((msg_id - before) as u64, Ordering::Relaxed);
        let b = Arc::new(b);
        db.write(move |tx| {
            tx.exec(&format!("INSERT INTO support_tickets (id, subject, channel, status, priority, tags, requester_email, requester_name, customer_id, team_id, assignee_id, created_at, updated_at, first_reply_at, solved_at, closed_at, sla_policy_id, first_reply_due_at, due_at) VALUES {}", b.tickets), &[])?;
            tx.exec(&format!("INSERT INTO support_messages (id, ticket_id, author_kind, author_user_id, author_email, public, body, created_at) VALUES {}", b.messages), &[])?;
            tx.exec(&format!("INSERT INTO support_status_changes (ticket_id, status, at) VALUES {}", b.changes), &[])?;
            if !b.csat.is_empty() {
                tx.exec(&format!("INSERT INTO support_csat (ticket_id, token_hash, rating, created_at, rated_at) VALUES {}", b.csat), &[])?;
            }
            Ok(())
        })
        .await
        .map_err(err)?;
        i = end;
        if i % 100_000 == 0 {
            eprintln!(
                "  {i} tickets, {} messages",
                messages.load(Ordering::Relaxed)
            );
        }
    }
    // Identities go on after the rows written with their own ids; statistics for the planner.
    db.write(|tx| {
        if tx.dialect() == backroom_core::db::Dialect::Postgres {
            for t in ["support_tickets", "support_messages", "customers"] {
                tx.exec(&format!("SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT MAX(id) FROM {t}))"), &[])?;
            }
        }
        tx.exec("ANALYZE", &[])?;
        Ok(())
    })
    .await
    .map_err(err)?;
    Ok(messages.load(Ordering::Relaxed))
}

/// Times GET `path` `rounds` times (after one warm-up): sorted latencies in microseconds.
async fn time_get(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    rounds: usize,
) -> Result<Vec<u64>> {
    let mut lat = Vec::with_capacity(rounds);
    for r in 0..=rounds {
        let t = Instant::now();
        // The API reads the bearer token, the console the session cookie.
        let resp = http
            .get(url)
            .bearer_auth(token)
            .header("cookie", format!("backroom_session={token}"))
            .send()
            .await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        if !status.is_success() {
            anyhow::bail!("{url}: {status} {}", String::from_utf8_lossy(&body));
        }
        if r > 0 {
            lat.push(t.elapsed().as_micros() as u64);
        }
    }
    lat.sort_unstable();
    Ok(lat)
}

/// Inbound email from `clients` concurrent clients: new tickets and replies threaded onto
/// existing ones; (messages, seconds, sorted latencies).
async fn inbound(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    a: &Args,
    n: u64,
) -> Result<(u64, f64, Vec<u64>)> {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.clients {
        let (http, base, key, next) = (
            http.clone(),
            base.to_string(),
            key.to_string(),
            next.clone(),
        );
        let total = a.inbound;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= total {
                    break;
                }
                let h = mix(k + 7_000_000);
                // Every other message answers an old ticket (by its reference in the subject).
                let subject = if k % 2 == 0 {
                    format!("Re: Where is my order? [T-{}]", 1 + h % n)
                } else {
                    format!("Question {k}")
                };
                let body = json!({
                    "from": format!("c{}@bench.example", h % (n / 5).max(1)),
                    "to": "care@bench.example",
                    "subject": subject,
                    "text": "Hello, any news about my parcel? Thank you.",
                    "message_id": format!("<in-{k}-{}@bench.example>", std::process::id()),
                });
                let t = Instant::now();
                let r = http
                    .post(format!("{base}/api/v1/support/inbound-email"))
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await?;
                if !r.status().is_success() {
                    anyhow::bail!(
                        "inbound: {} {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    );
                }
                lat.push(t.elapsed().as_micros() as u64);
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    lat.sort_unstable();
    Ok((lat.len() as u64, started.elapsed().as_secs_f64(), lat))
}

pub fn run(backend: &str, url: &str, a: &Args) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let token = rt.block_on(seed(url, 10, 0, "admin"))?;
    let db = rt.block_on(Db::open(url)).map_err(err)?;
    let (agents, teams, policy) = rt.block_on(set_up(&db))?;
    let first_customer = rt
        .block_on(db.read(|tx| {
            Ok(tx
                .query_one("SELECT COALESCE(MAX(id), 0) + 1 AS n FROM customers", &[])?
                .map(|r| r.get::<i64>("n"))
                .transpose()?
                .unwrap_or(1))
        }))
        .map_err(err)?;
    let plan = Arc::new(Plan {
        n: a.tickets,
        now: backroom_core::util::now_micros(),
        agents,
        teams,
        policy,
        first_customer,
        customers: (a.tickets / 5).max(1),
    });
    eprintln!("[{backend}] writing {} tickets...", a.tickets);
    let started = Instant::now();
    let messages = rt.block_on(load(&db, plan.clone()))?;
    let load_secs = started.elapsed().as_secs_f64();
    drop(db);
    let (mut child, base) = crate::bench::spawn_server(url)?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(a.clients.max(2))
        .timeout(Duration::from_secs(600))
        .build()?;
    let result = rt.block_on(async {
        wait_up(&http, &base).await?;
        measure(&http, &base, &token, a, plan.n).await
    });
    let _ = child.kill();
    let _ = child.wait();
    let (pages, inbound_figures, report_ms) = result?;
    println!(
        "backend={backend} tickets={} messages={messages} (written in {load_secs:.0} s, not timed below) rounds={} clients={}",
        a.tickets, a.rounds, a.clients
    );
    for (page, lat) in &pages {
        println!(
            "  {page:<58} p50 {:>6.1} ms  p95 {:>6.1} ms  max {:>6.1} ms",
            percentile_ms(lat, 0.5),
            percentile_ms(lat, 0.95),
            percentile_ms(lat, 1.0)
        );
    }
    let (n, secs, lat) = inbound_figures;
    println!(
        "  inbound email: {n} messages in {secs:.1} s = {:.0} messages/s durable (p50 {:.1} ms, p99 {:.1} ms; half reply to old tickets)",
        n as f64 / secs,
        percentile_ms(&lat, 0.5),
        percentile_ms(&lat, 0.99)
    );
    println!("  support report, last 30 days by day and agent: {report_ms:.0} ms");
    Ok(())
}

type Pages = Vec<(String, Vec<u64>)>;

async fn measure(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    a: &Args,
    n: u64,
) -> Result<(Pages, (u64, f64, Vec<u64>), f64)> {
    // The provider's key for inbound email.
    let issued: Value = http
        .post(format!("{base}/api/v1/tokens"))
        .bearer_auth(token)
        .json(&json!({"name": "bench key", "ingest": true}))
        .send()
        .await?
        .json()
        .await?;
    let key = issued["token"]
        .as_str()
        .context("no ingest key")?
        .to_string();
    let old = 1 + mix(1) % n;
    let recent = n;
    let mut pages: Pages = Vec::new();
    for path in [
        "/api/v1/support/tickets?status=unsolved".to_string(),
        "/api/v1/support/tickets?assignee=none&status=unsolved".into(),
        "/api/v1/support/tickets?sla=breached".into(),
        "/api/v1/support/tickets?sla=soon".into(),
        "/api/v1/support/tickets?team_id=1&status=unsolved".into(),
        "/api/v1/support/tickets".into(),
        "/api/v1/support/tickets?q=c4242@bench.example".into(),
        format!("/api/v1/support/tickets/{recent}"),
        format!("/api/v1/support/tickets/{old}"),
        "/console/support".into(),
        "/console/support?view=breached".into(),
        "/console/support?view=all".into(),
        format!("/console/support/{recent}"),
        format!("/console/support/{old}"),
        "/console/support/workload".into(),
    ] {
        let lat = time_get(http, &format!("{base}{path}"), token, a.rounds).await?;
        pages.push((path, lat));
    }
    let inbound = inbound(http, base, &key, a, n).await?;
    let today = (backroom_core::util::now_micros() / DAY) as i32;
    let (f, t) = (
        backroom_domain::analytics::format_day(today - 29),
        backroom_domain::analytics::format_day(today + 1),
    );
    let lat = time_get(
        http,
        &format!("{base}/api/v1/support/report?from={f}&to={t}&by=day&breakdown=agent"),
        token,
        3,
    )
    .await?;
    Ok((pages, inbound, percentile_ms(&lat, 0.5)))
}
