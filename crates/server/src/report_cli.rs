//! `backroom report ...` and `backroom analytics ...`: the KPI engine from the command line, as a
//! readable table, CSV or JSON.

use anyhow::{Result, bail};
use backroom_core::Db;
use backroom_core::analytics::marketing;
use backroom_core::analytics::refresh;
use backroom_core::analytics::report::{self, ClvQuery, KpiQuery, KpiReport, Kpis, Opts, Period};
use backroom_domain::{Currency, Money};
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum ReportCommand {
    /// Every KPI for a period of local days [from, to), compared with the previous period and
    /// the same period last year.
    Kpis {
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Day after the last, YYYY-MM-DD.
        #[arg(long)]
        to: String,
        /// A series by day, week or month.
        #[arg(long)]
        by: Option<String>,
        /// channel, campaign, source, medium, device, country, product or landing_page.
        #[arg(long)]
        breakdown: Option<String>,
        /// Money KPIs in this currency (the store's by default).
        #[arg(long)]
        currency: Option<String>,
        /// table (default), csv or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// The conversion funnel.
    Funnel {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
    },
    /// Retention by first-order month.
    Cohorts {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
    },
    /// Historic customer lifetime value by segment (acquisition_source, cohort, channel).
    Clv {
        #[arg(long)]
        segment: Option<String>,
    },
    /// Data checks: purchases without orders, orders without sessions, spend without traffic,
    /// days without events. Exits 1 when any is found.
    Reconciliation {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
    },
}

#[derive(clap::Subcommand)]
pub enum AnalyticsCommand {
    /// Derive sessions and attribution for events not yet derived.
    Refresh,
    /// Throw sessions and attribution away and derive them again from the raw events.
    Rebuild,
    /// Record ad spend from a CSV file: date,source,medium,campaign,amount[,currency].
    ImportSpend { file: PathBuf },
}

fn err(e: backroom_core::Error) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

pub async fn analytics(db: &Db, c: AnalyticsCommand) -> Result<()> {
    let started = std::time::Instant::now();
    match c {
        AnalyticsCommand::Refresh => {
            let n = refresh::run(db).await.map_err(err)?;
            println!(
                "{n} events derived in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        AnalyticsCommand::Rebuild => {
            let n = refresh::rebuild(db).await.map_err(err)?;
            println!(
                "sessions and attribution rebuilt from {n} events in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        AnalyticsCommand::ImportSpend { file } => {
            let bytes = std::sync::Arc::new(std::fs::read(&file)?);
            let saved = db
                .write(move |tx| {
                    let store = backroom_core::settings::load(tx)?.currency;
                    let rows = marketing::parse_spend_csv(&bytes, store)?;
                    marketing::put_spend(tx, &backroom_core::Ctx::system_now(), &rows)
                })
                .await
                .map_err(err)?;
            println!("{} ad spend rows saved", saved.saved);
        }
    }
    Ok(())
}

pub async fn report(db: &Db, c: ReportCommand) -> Result<()> {
    refresh::run(db).await.map_err(err)?;
    match c {
        ReportCommand::Kpis {
            from,
            to,
            by,
            breakdown,
            currency,
            format,
        } => {
            if !["table", "csv", "json"].contains(&format.as_str()) {
                bail!("--format must be table, csv or json");
            }
            let q = KpiQuery {
                from,
                to,
                by,
                breakdown,
                currency,
                compare: Some(true),
            };
            let r = db
                .read(move |tx| {
                    let (p, o) = Opts::from_query(tx, &q)?;
                    report::kpis(tx, p, &o)
                })
                .await
                .map_err(err)?;
            match format.as_str() {
                "json" => println!("{}", serde_json::to_string_pretty(&r)?),
                "csv" => print!("{}", csv(&r)),
                _ => print!("{}", table(&r)?),
            }
        }
        ReportCommand::Funnel { from, to } => {
            let p = Period::parse(&from, &to).map_err(err)?;
            let steps = db
                .read(move |tx| report::funnel(tx, p))
                .await
                .map_err(err)?;
            println!(
                "{:<14} {:>10} {:>9} {:>9}",
                "step", "sessions", "of all", "drop-off"
            );
            for s in steps {
                println!(
                    "{:<14} {:>10} {:>9} {:>9}",
                    s.step,
                    s.sessions,
                    pct(s.rate),
                    pct(s.drop_off)
                );
            }
        }
        ReportCommand::Cohorts { from, to } => {
            let p = Period::parse(&from, &to).map_err(err)?;
            let cohorts = db
                .read(move |tx| report::cohorts(tx, p))
                .await
                .map_err(err)?;
            for c in cohorts {
                let cells: Vec<String> = c.retention.iter().take(13).map(|r| pct(*r)).collect();
                println!(
                    "{}  {:>7} customers  {}",
                    c.month,
                    c.customers,
                    cells.join(" ")
                );
            }
        }
        ReportCommand::Clv { segment } => {
            let q = ClvQuery {
                segment,
                limit: Some(10),
            };
            let r = db.read(move |tx| report::clv(tx, &q)).await.map_err(err)?;
            let cur = Currency::parse(&r.currency).map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "{:<28} {:>9} {:>9} {:>18}",
                "segment", "customers", "orders", "average CLV"
            );
            for s in &r.segments {
                println!(
                    "{:<28} {:>9} {:>9} {:>18}",
                    s.segment,
                    s.customers,
                    s.orders,
                    s.avg_clv
                        .map_or("-".into(), |v| Money::new(v, cur).to_string())
                );
            }
        }
        ReportCommand::Reconciliation { from, to } => {
            let p = Period::parse(&from, &to).map_err(err)?;
            let r = db
                .read(move |tx| report::reconciliation(tx, p))
                .await
                .map_err(err)?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            if !r.clean {
                std::process::exit(1);
            }
        }
    }
    Ok(())
}

fn pct(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{:.1}%", r * 100.0))
}

/// The KPI lines of a table: (name, value shown, value compared).
fn lines(k: &Kpis, cur: Currency) -> Vec<(&'static str, String, Option<f64>)> {
    let money = |v: i64| Money::new(v, cur).to_string();
    let secs = |s: Option<f64>| s.map_or("-".into(), |s| format!("{s:.0} s"));
    vec![
        ("Net sales", money(k.net_sales), Some(k.net_sales as f64)),
        ("Orders", k.orders.to_string(), Some(k.orders as f64)),
        (
            "Average order value",
            k.aov.map_or("-".into(), money),
            k.aov.map(|v| v as f64),
        ),
        ("Sessions", k.sessions.to_string(), Some(k.sessions as f64)),
        (
            "Unique visitors",
            k.unique_visitors.to_string(),
            Some(k.unique_visitors as f64),
        ),
        ("Conversion rate", pct(k.conversion_rate), k.conversion_rate),
        ("Bounce rate", pct(k.bounce_rate), k.bounce_rate),
        (
            "Avg session duration",
            secs(k.avg_session_seconds),
            k.avg_session_seconds,
        ),
        (
            "Cart abandonment",
            pct(k.cart_abandonment_rate),
            k.cart_abandonment_rate,
        ),
        (
            "New customers",
            k.new_customers.to_string(),
            Some(k.new_customers as f64),
        ),
        (
            "Returning customers",
            k.returning_customers.to_string(),
            Some(k.returning_customers as f64),
        ),
        (
            "Repeat customer rate",
            pct(k.repeat_customer_rate),
            k.repeat_customer_rate,
        ),
        ("Ad spend", money(k.ad_spend), Some(k.ad_spend as f64)),
        (
            "CAC",
            k.cac.map_or("-".into(), money),
            k.cac.map(|v| v as f64),
        ),
        (
            "ROAS",
            k.roas.map_or("-".into(), |r| format!("{r:.2}")),
            k.roas,
        ),
        ("Email open rate", pct(k.email_open_rate), k.email_open_rate),
        ("Return rate", pct(k.return_rate), k.return_rate),
        ("Gross margin", pct(k.gross_margin), k.gross_margin),
    ]
}

fn change(now: Option<f64>, then: Option<f64>) -> String {
    match (now, then) {
        (Some(a), Some(b)) if b != 0.0 => format!("{:+.1}%", (a - b) / b.abs() * 100.0),
        _ => "-".into(),
    }
}

fn table(r: &KpiReport) -> Result<String> {
    use std::fmt::Write;
    let cur = Currency::parse(&r.currency).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut s = String::new();
    writeln!(
        s,
        "KPIs {} to {} (exclusive), {}, days in {}",
        r.from, r.to, r.currency, r.timezone
    )?;
    writeln!(
        s,
        "{:<22} {:>18} {:>18} {:>8} {:>18} {:>8}",
        "", "period", "previous", "change", "last year", "change"
    )?;
    let now = lines(&r.totals, cur);
    let prev = r.previous.as_ref().map(|k| lines(k, cur));
    let ly = r.last_year.as_ref().map(|k| lines(k, cur));
    for (i, (name, shown, v)) in now.iter().enumerate() {
        let p = prev.as_ref().map(|p| &p[i]);
        let l = ly.as_ref().map(|l| &l[i]);
        writeln!(
            s,
            "{:<22} {:>18} {:>18} {:>8} {:>18} {:>8}",
            name,
            shown,
            p.map_or("-".into(), |p| p.1.clone()),
            change(*v, p.and_then(|p| p.2)),
            l.map_or("-".into(), |l| l.1.clone()),
            change(*v, l.and_then(|l| l.2)),
        )?;
    }
    let rows: Vec<&report::KpiRow> = if r.breakdown.is_empty() {
        r.series.iter().collect()
    } else {
        r.breakdown.iter().collect()
    };
    if !rows.is_empty() {
        writeln!(s)?;
        writeln!(
            s,
            "{:<12} {:<24} {:>16} {:>7} {:>14} {:>9} {:>8} {:>8}",
            "bucket", "group", "net sales", "orders", "AOV", "sessions", "conv.", "ROAS"
        )?;
        for row in rows {
            let k = &row.kpis;
            writeln!(
                s,
                "{:<12} {:<24} {:>16} {:>7} {:>14} {:>9} {:>8} {:>8}",
                row.bucket.as_deref().unwrap_or(""),
                row.group.as_deref().unwrap_or(""),
                Money::new(k.net_sales, cur).to_string(),
                k.orders,
                k.aov.map_or("-".into(), |v| Money::new(v, cur).to_string()),
                k.sessions,
                pct(k.conversion_rate),
                k.roas.map_or("-".into(), |r| format!("{r:.2}")),
            )?;
        }
    }
    Ok(s)
}

/// One CSV row per bucket and group (or the totals), with every KPI as a column.
fn csv(r: &KpiReport) -> String {
    let rows: Vec<(String, String, &Kpis)> = if !r.breakdown.is_empty() {
        r.breakdown
            .iter()
            .map(|x| {
                (
                    x.bucket.clone().unwrap_or_default(),
                    x.group.clone().unwrap_or_default(),
                    &x.kpis,
                )
            })
            .collect()
    } else if !r.series.is_empty() {
        r.series
            .iter()
            .map(|x| (x.bucket.clone().unwrap_or_default(), String::new(), &x.kpis))
            .collect()
    } else {
        vec![(r.from.clone(), String::new(), &r.totals)]
    };
    let mut out = String::new();
    let mut header = false;
    for (bucket, group, k) in rows {
        let v = serde_json::to_value(k).unwrap_or_default();
        let Some(map) = v.as_object() else { continue };
        if !header {
            out.push_str("bucket,group,");
            out.push_str(&map.keys().cloned().collect::<Vec<_>>().join(","));
            out.push('\n');
            header = true;
        }
        let cells: Vec<String> = map
            .values()
            .map(|v| {
                if v.is_null() {
                    String::new()
                } else {
                    v.to_string()
                }
            })
            .collect();
        out.push_str(&format!(
            "{},{},{}\n",
            backroom_core::export::csv_field(&bucket),
            backroom_core::export::csv_field(&group),
            cells.join(",")
        ));
    }
    out
}
