//! `backroom budgets ...`, `backroom targets ...` and `backroom report targets|budgets`: set
//! operating budgets, campaign budgets and revenue targets, and read where the month stands.

use crate::cli::failed;
use anyhow::Result;
use backroom_core::budgets::plan::{self, BudgetIn, BudgetReport, TargetIn, TargetReport};
use backroom_core::budgets::{self, NewCampaignBudget};
use backroom_core::{Ctx, Db};

#[derive(clap::Subcommand)]
pub enum BudgetsCommand {
    /// Set a month's budget for a category (advertising, discounts, shipping, refunds, support,
    /// other); --actual for the categories Backroom does not measure.
    Set {
        #[arg(long)]
        month: String,
        #[arg(long)]
        category: String,
        /// Minor units.
        #[arg(long)]
        amount: i64,
        #[arg(long)]
        actual: Option<i64>,
    },
    /// Give a campaign a budget: caps on ad spend, discount cost and uses (minor units).
    Campaign {
        #[arg(long)]
        campaign: String,
        #[arg(long)]
        starts_on: String,
        /// The last day (included).
        #[arg(long)]
        ends_on: String,
        #[arg(long)]
        ad_spend_cap: Option<i64>,
        #[arg(long)]
        discount_cap: Option<i64>,
        #[arg(long)]
        usage_cap: Option<i64>,
    },
    /// Campaign budgets with their spend, pace, ROAS and CAC (JSON).
    Campaigns,
}

#[derive(clap::Subcommand)]
pub enum TargetsCommand {
    /// Set a month's revenue (net sales, minor units) and order target, for the store or a
    /// channel.
    Set {
        #[arg(long)]
        month: String,
        #[arg(long)]
        revenue: i64,
        #[arg(long)]
        orders: Option<i64>,
        #[arg(long)]
        channel: Option<String>,
    },
}

fn ctx() -> Ctx {
    crate::cli::ctx("budgets (CLI)")
}

pub async fn budgets(db: &Db, command: BudgetsCommand) -> Result<()> {
    match command {
        BudgetsCommand::Set {
            month,
            category,
            amount,
            actual,
        } => {
            let rows = vec![BudgetIn {
                month: month.clone(),
                category,
                amount,
                actual,
            }];
            let r = db
                .write(move |tx| {
                    plan::put_budgets(tx, &ctx(), &rows)?;
                    plan::budget_report(tx, &ctx(), &month)
                })
                .await
                .map_err(failed)?;
            print!("{}", budget_table(&r));
        }
        BudgetsCommand::Campaign {
            campaign,
            starts_on,
            ends_on,
            ad_spend_cap,
            discount_cap,
            usage_cap,
        } => {
            let b = NewCampaignBudget {
                campaign,
                starts_on,
                ends_on,
                ad_spend_cap,
                discount_cap,
                usage_cap,
            };
            let made = db
                .write(move |tx| budgets::create(tx, &ctx(), &b))
                .await
                .map_err(failed)?;
            println!(
                "campaign budget {} for {} ({} to {})",
                made.id, made.campaign, made.starts_on, made.ends_on
            );
        }
        BudgetsCommand::Campaigns => {
            backroom_core::analytics::refresh::run(db)
                .await
                .map_err(failed)?;
            let all = db
                .read(|tx| budgets::list(tx, &ctx()))
                .await
                .map_err(failed)?;
            println!("{}", serde_json::to_string_pretty(&all)?);
        }
    }
    Ok(())
}

pub async fn targets(db: &Db, command: TargetsCommand) -> Result<()> {
    let TargetsCommand::Set {
        month,
        revenue,
        orders,
        channel,
    } = command;
    let rows = vec![TargetIn {
        month: month.clone(),
        channel,
        revenue,
        orders,
    }];
    let r = db
        .write(move |tx| {
            plan::put_targets(tx, &ctx(), &rows)?;
            plan::target_report(tx, &ctx(), &month)
        })
        .await
        .map_err(failed)?;
    print!("{}", target_table(&r));
    Ok(())
}

/// `backroom report targets|budgets`: the month's report as a table or JSON.
pub async fn report(db: &Db, targets: bool, month: Option<String>, format: &str) -> Result<()> {
    backroom_core::analytics::refresh::run(db)
        .await
        .map_err(failed)?;
    let month = db
        .read(move |tx| plan::month_or_this(tx, month.as_deref()))
        .await
        .map_err(failed)?;
    if targets {
        let r = db
            .read(move |tx| plan::target_report(tx, &ctx(), &month))
            .await
            .map_err(failed)?;
        match format {
            "json" => println!("{}", serde_json::to_string_pretty(&r)?),
            _ => print!("{}", target_table(&r)),
        }
    } else {
        let r = db
            .read(move |tx| plan::budget_report(tx, &ctx(), &month))
            .await
            .map_err(failed)?;
        match format {
            "json" => println!("{}", serde_json::to_string_pretty(&r)?),
            _ => print!("{}", budget_table(&r)),
        }
    }
    Ok(())
}

fn money(cur: &str, v: Option<i64>) -> String {
    v.map_or_else(|| "-".into(), |v| backroom_domain::money::human_in(v, cur))
}

pub fn target_table(r: &TargetReport) -> String {
    let m = |v: i64| money(&r.currency, Some(v));
    let mut out = format!(
        "Targets for {} (day {} of {})\n",
        r.month, r.days_elapsed, r.days_in_month
    );
    out.push_str(&format!(
        "{:<12} {:>14} {:>14} {:>14} {:>14} {:>14} {:>8} {:>8} {:>9}\n",
        "channel",
        "target",
        "to date",
        "at pace",
        "forecast",
        "gap",
        "orders",
        "to date",
        "forecast"
    ));
    for t in &r.targets {
        out.push_str(&format!(
            "{:<12} {:>14} {:>14} {:>14} {:>14} {:>14} {:>8} {:>8} {:>9}\n",
            t.channel.as_deref().unwrap_or("store"),
            m(t.target_revenue),
            m(t.revenue_to_date),
            money(&r.currency, t.revenue_at_pace),
            m(t.revenue_forecast),
            m(t.revenue_gap),
            t.target_orders.map_or("-".into(), |o| o.to_string()),
            t.orders_to_date,
            t.orders_forecast
        ));
    }
    if r.targets.is_empty() {
        out.push_str("no target for this month: backroom targets set --month M --revenue AMOUNT\n");
    }
    out
}

pub fn budget_table(r: &BudgetReport) -> String {
    let m = |v: Option<i64>| money(&r.currency, v);
    let mut out = format!(
        "Budgets for {} (day {} of {})\n",
        r.month, r.days_elapsed, r.days_in_month
    );
    out.push_str(&format!(
        "{:<12} {:>14} {:>14} {:>14} {:>14}  {}\n",
        "category", "budget", "actual", "variance", "at pace", "source"
    ));
    for l in &r.lines {
        out.push_str(&format!(
            "{:<12} {:>14} {:>14} {:>14} {:>14}  {}\n",
            l.category,
            m(l.budget),
            m(l.actual),
            m(l.variance),
            m(l.at_pace),
            l.source
        ));
    }
    out
}
