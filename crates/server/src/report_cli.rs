//! `backroom report ...` and `backroom analytics ...`: the KPI engine from the command line, as a
//! readable table, CSV or JSON.

use crate::plan_cli::report as plan_report;
use anyhow::{Result, bail};
use backroom::kpi_view::{change, csv, lines, pct};
use backroom::support_view;
use backroom_core::Db;
use backroom_core::analytics::marketing;
use backroom_core::analytics::refresh;
use backroom_core::analytics::report::{self, ClvQuery, KpiQuery, KpiReport, Opts, Period};
use backroom_core::support::report::{self as support_report, SupportReportQuery};
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
    /// Support KPIs (tickets created, solved, backlog, first response and resolution times,
    /// replies per ticket, one-touch rate, SLA attainment, CSAT) for local days [from, to),
    /// compared with the previous period.
    Support {
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Day after the last, YYYY-MM-DD.
        #[arg(long)]
        to: String,
        /// A series by day, week or month.
        #[arg(long)]
        by: Option<String>,
        /// agent, team, channel or priority.
        #[arg(long)]
        breakdown: Option<String>,
        /// table (default), csv or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Promotion performance for local days [from, to): discounts, orders with a discount, and
    /// per promotion and code the orders, discount, shipping discount, sales and gross margin.
    Promotions {
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Day after the last, YYYY-MM-DD.
        #[arg(long)]
        to: String,
        /// table (default), csv or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// A month's revenue and order targets: to date, at pace, forecast to month end, gap.
    Targets {
        /// `YYYY-MM`; this month by default.
        #[arg(long)]
        month: Option<String>,
        /// table (default) or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// A month's operating budgets against their actuals.
    Budgets {
        #[arg(long)]
        month: Option<String>,
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
    /// days without events; a summary first. Exits 1 when a discrepancy is found (a store whose
    /// storefront sent no events only fails on purchases without an order).
    Reconciliation {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// table (default: the summary, then up to 20 of each finding) or json.
        #[arg(long, default_value = "table")]
        format: String,
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
        ReportCommand::Support {
            from,
            to,
            by,
            breakdown,
            format,
        } => {
            if !["table", "csv", "json"].contains(&format.as_str()) {
                bail!("--format must be table, csv or json");
            }
            let q = SupportReportQuery {
                from,
                to,
                by,
                breakdown,
                compare: Some(true),
            };
            let ctx = backroom_core::Ctx::system_now();
            let r = db
                .read(move |tx| support_report::report(tx, &ctx, &q))
                .await
                .map_err(err)?;
            match format.as_str() {
                "json" => println!("{}", serde_json::to_string_pretty(&r)?),
                "csv" => print!("{}", support_view::csv(&r)),
                _ => print!("{}", support_view::table(&r)),
            }
        }
        ReportCommand::Promotions { from, to, format } => {
            promotions(db, &from, &to, &format).await?
        }
        ReportCommand::Targets { month, format } => plan_report(db, true, month, &format).await?,
        ReportCommand::Budgets { month, format } => plan_report(db, false, month, &format).await?,
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
        ReportCommand::Reconciliation { from, to, format } => {
            if !matches!(format.as_str(), "table" | "json") {
                bail!("--format must be table or json");
            }
            let p = Period::parse(&from, &to).map_err(err)?;
            let r = db
                .read(move |tx| report::reconciliation(tx, p))
                .await
                .map_err(err)?;
            if format == "json" {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print!("{}", reconciliation_table(&r));
            }
            if !r.clean {
                std::process::exit(1);
            }
        }
    }
    Ok(())
}

/// The reconciliation as read at a terminal: the summary, then each finding's first 20.
fn reconciliation_table(r: &report::Reconciliation) -> String {
    use std::fmt::Write;
    let mut s = format!(
        "Reconciliation {} to {} (exclusive): {}\n",
        r.from,
        r.to,
        if r.clean {
            "no discrepancy".to_string()
        } else {
            format!("{} discrepancies", r.discrepancies)
        }
    );
    for line in &r.summary {
        let _ = writeln!(s, "  {line}");
    }
    let mut list = |title: &str, items: Vec<String>| {
        if items.is_empty() {
            return;
        }
        let _ = writeln!(s, "\n{title}:");
        for i in items.iter().take(20) {
            let _ = writeln!(s, "  {i}");
        }
        if items.len() > 20 {
            let _ = writeln!(
                s,
                "  ... and {} more (--format json lists all)",
                items.len() - 20
            );
        }
    };
    list(
        "Purchase events with no order",
        r.purchases_without_order
            .iter()
            .map(|n| format!("#{n}"))
            .collect(),
    );
    list(
        "Online orders with no purchase event",
        r.orders_without_session
            .iter()
            .map(|n| format!("#{n}"))
            .collect(),
    );
    list(
        "Campaigns with spend and no session",
        r.spend_without_traffic.clone(),
    );
    list(
        "Days with no storefront event",
        r.days_without_events.clone(),
    );
    s
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
    if let Some(note) = &r.last_year_note {
        writeln!(s, "({note})")?;
    }
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

/// `backroom report promotions`: the period's promotion figures as a table, CSV or JSON.
async fn promotions(db: &Db, from: &str, to: &str, format: &str) -> Result<()> {
    if !["table", "csv", "json"].contains(&format) {
        bail!("--format must be table, csv or json");
    }
    let p = Period::parse(from, to).map_err(err)?;
    backroom_core::analytics::refresh::run(db)
        .await
        .map_err(err)?;
    let r = db
        .read(move |tx| backroom_core::analytics::promotions::report(tx, p))
        .await
        .map_err(err)?;
    match format {
        "json" => println!("{}", serde_json::to_string_pretty(&r)?),
        "csv" => print!("{}", backroom::promo_view::csv(&r)),
        _ => print!("{}", backroom::promo_view::table(&r)),
    }
    Ok(())
}
