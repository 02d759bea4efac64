//! Operating budgets and revenue targets per month.
//!
//! A budget is an amount per month and category; its actual is measured from Backroom's own
//! data for advertising (ad spend), discounts (what promotions took off lines and shipping) and
//! refunds (merchandise refunded), and entered by hand for shipping cost, support and other.
//! A target is revenue (net sales, as the KPI layer counts it) and optionally orders per month,
//! for the store or one channel. Each shows the actual to date, where the month ends at the pace
//! so far, and a forecast to month end: the actual plus, for each day left, the mean of the same
//! weekday over the four weeks before today ([`backroom_domain::budgets::forecast_rest`]).

use crate::analytics::report::{KpiQuery, KpiReport, Opts, kpis};
use crate::db::Sql;
use crate::{Ctx, Error, Result, audit, params};
use backroom_domain::analytics::{format_day, parse_day};
use backroom_domain::budgets::{Category, at_pace, forecast_rest};
use backroom_domain::roles::Permission;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// A month as `YYYY-MM`: its first day and the first day of the next.
pub fn month_days(field: &str, month: &str) -> Result<(i32, i32)> {
    let bad = || Error::invalid(field, "must be a month like 2026-11");
    let (y, m) = month.trim().split_once('-').ok_or_else(bad)?;
    let (y, m): (i32, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(1..=12).contains(&m) || !(2000..=2200).contains(&y) {
        return Err(bad());
    }
    let first = parse_day(&format!("{y:04}-{m:02}-01")).ok_or_else(bad)?;
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let next = parse_day(&format!("{ny:04}-{nm:02}-01")).ok_or_else(bad)?;
    Ok((first, next))
}

/// The month asked for (checked), or this month in the store's zone, as `YYYY-MM`.
pub fn month_or_this(tx: &mut dyn Sql, month: Option<&str>) -> Result<String> {
    if let Some(m) = month.map(str::trim).filter(|m| !m.is_empty()) {
        month_days("month", m)?;
        return Ok(m.to_string());
    }
    let zone = crate::analytics::Zone::get(&crate::settings::load(tx)?.timezone)?;
    Ok(format_day(zone.day_of(crate::util::now_micros()))[..7].to_string())
}

/// Monday is 0.
fn weekday(day: i32) -> u8 {
    u8::try_from((day + 3).rem_euclid(7)).unwrap_or(0)
}

/// A month's budget for one category (`actual` only for those entered by hand).
#[derive(Deserialize, Serialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct BudgetIn {
    pub month: String,
    /// `advertising`, `discounts`, `shipping`, `refunds`, `support` or `other`.
    pub category: String,
    /// Minor units of the store's currency.
    pub amount: i64,
    /// The actual so far, for shipping, support and other (Backroom measures the rest).
    pub actual: Option<i64>,
}

/// A month's target, for the store (no channel) or one channel.
#[derive(Deserialize, Serialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct TargetIn {
    pub month: String,
    pub channel: Option<String>,
    /// Net sales, minor units.
    pub revenue: i64,
    pub orders: Option<i64>,
}

/// Sets budgets, all rows or none (a row for a month and category replaces it).
pub fn put_budgets(tx: &mut dyn Sql, ctx: &Ctx, rows: &[BudgetIn]) -> Result<usize> {
    ctx.actor.require(Permission::SettingsWrite)?;
    if rows.is_empty() || rows.len() > 1000 {
        return Err(Error::invalid("budgets", "send 1 to 1000 rows"));
    }
    for (i, b) in rows.iter().enumerate() {
        let at = |f: &str| format!("[{i}].{f}");
        month_days(&at("month"), &b.month)?;
        let c = Category::parse(b.category.trim()).ok_or_else(|| {
            Error::invalid(
                at("category"),
                "must be advertising, discounts, shipping, refunds, support or other",
            )
        })?;
        if b.amount < 0 {
            return Err(Error::invalid(at("amount"), "must be 0 or more"));
        }
        if b.actual.is_some() && c.measured() {
            return Err(Error::invalid(
                at("actual"),
                format!("Backroom measures {} itself", c.as_str()),
            ));
        }
        tx.exec(
            "INSERT INTO operating_budgets (month, category, amount_minor, actual_minor, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (month, category) DO UPDATE SET amount_minor = excluded.amount_minor, actual_minor = excluded.actual_minor, updated_at = excluded.updated_at",
            params![b.month.trim(), c.as_str(), b.amount, b.actual, ctx.now],
        )?;
    }
    audit::record(
        tx,
        ctx,
        "budgets.set",
        "operating_budget",
        0,
        json!({"rows": rows}),
    )?;
    Ok(rows.len())
}

/// Sets targets, all rows or none.
pub fn put_targets(tx: &mut dyn Sql, ctx: &Ctx, rows: &[TargetIn]) -> Result<usize> {
    ctx.actor.require(Permission::SettingsWrite)?;
    if rows.is_empty() || rows.len() > 1000 {
        return Err(Error::invalid("targets", "send 1 to 1000 rows"));
    }
    for (i, t) in rows.iter().enumerate() {
        let at = |f: &str| format!("[{i}].{f}");
        month_days(&at("month"), &t.month)?;
        let channel = t.channel.as_deref().map(str::trim).unwrap_or_default();
        if !channel.is_empty() && crate::catalog::channel_id(tx, channel)?.is_none() {
            return Err(Error::invalid(
                at("channel"),
                format!("no channel has the code {channel}"),
            ));
        }
        if t.revenue < 0 || t.orders.is_some_and(|o| o < 0) {
            return Err(Error::invalid(at("revenue"), "must be 0 or more"));
        }
        tx.exec(
            "INSERT INTO revenue_targets (month, channel, revenue_minor, orders, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (month, channel) DO UPDATE SET revenue_minor = excluded.revenue_minor, orders = excluded.orders, updated_at = excluded.updated_at",
            params![t.month.trim(), channel, t.revenue, t.orders, ctx.now],
        )?;
    }
    audit::record(
        tx,
        ctx,
        "targets.set",
        "revenue_target",
        0,
        json!({"rows": rows}),
    )?;
    Ok(rows.len())
}

/// Where a month stands on a day: days gone (today counted), days in all, days left after today.
#[derive(Clone, Copy, Debug)]
struct Clock {
    first: i32,
    next: i32,
    today: i32,
}

impl Clock {
    fn elapsed(&self) -> i64 {
        i64::from((self.today + 1).clamp(self.first, self.next) - self.first)
    }
    fn total(&self) -> i64 {
        i64::from(self.next - self.first)
    }
    /// The days after today, in the month.
    fn rest(&self) -> std::ops::Range<i32> {
        (self.today + 1).max(self.first)..self.next
    }
    /// The days of the month so far (up to today).
    fn so_far(&self) -> std::ops::Range<i32> {
        self.first..(self.today + 1).clamp(self.first, self.next)
    }
}

fn clock(tx: &mut dyn Sql, month: &str) -> Result<Clock> {
    let (first, next) = month_days("month", month)?;
    let zone = crate::analytics::Zone::get(&crate::settings::load(tx)?.timezone)?;
    Ok(Clock {
        first,
        next,
        today: zone.day_of(crate::util::now_micros()),
    })
}

fn kpi_report(
    tx: &mut dyn Sql,
    from: i32,
    to: i32,
    by_day: bool,
    by_channel: bool,
) -> Result<KpiReport> {
    let q = KpiQuery {
        from: format_day(from),
        to: format_day(to),
        by: by_day.then(|| "day".to_string()),
        breakdown: by_channel.then(|| "channel".to_string()),
        compare: Some(false),
        ..KpiQuery::default()
    };
    let (p, o) = Opts::from_query(tx, &q)?;
    kpis(tx, p, &o)
}

/// A budget's line for its month.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct BudgetLine {
    pub category: String,
    pub budget: Option<i64>,
    pub actual: Option<i64>,
    /// `measured` or `entered`.
    pub source: String,
    /// `actual - budget`: above 0 is over budget.
    pub variance: Option<i64>,
    /// Where the month ends at the pace so far.
    pub at_pace: Option<i64>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct BudgetReport {
    pub month: String,
    pub currency: String,
    pub days_elapsed: i64,
    pub days_in_month: i64,
    pub lines: Vec<BudgetLine>,
}

/// A month's budgets against their actuals, every category listed.
pub fn budget_report(tx: &mut dyn Sql, ctx: &Ctx, month: &str) -> Result<BudgetReport> {
    ctx.actor.require(Permission::AnalyticsRead)?;
    let c = clock(tx, month)?;
    let d = c.so_far();
    let (spend, discounts, refunds) = if d.is_empty() {
        (0, 0, 0)
    } else {
        let k = kpi_report(tx, d.start, d.end, false, false)?.totals;
        let promo = crate::analytics::promotions::report(
            tx,
            crate::analytics::report::Period {
                from: d.start,
                to: d.end,
            },
        )?;
        (
            k.ad_spend,
            k.discounts + promo.shipping_discounts,
            k.refunds,
        )
    };
    let stored: Vec<(String, i64, Option<i64>)> = tx
        .query(
            "SELECT category, amount_minor, actual_minor FROM operating_budgets WHERE month = $1",
            params![month.trim()],
        )?
        .iter()
        .map(|r| {
            Ok((
                r.get("category")?,
                r.get("amount_minor")?,
                r.get("actual_minor")?,
            ))
        })
        .collect::<Result<_>>()?;
    let lines = Category::ALL
        .iter()
        .map(|cat| {
            let row = stored.iter().find(|(c, ..)| c == cat.as_str());
            let actual = match cat {
                Category::Advertising => Some(spend),
                Category::Discounts => Some(discounts),
                Category::Refunds => Some(refunds),
                _ => row.and_then(|r| r.2),
            };
            let budget = row.map(|r| r.1);
            BudgetLine {
                category: cat.as_str().into(),
                budget,
                actual,
                source: if cat.measured() {
                    "measured"
                } else {
                    "entered"
                }
                .into(),
                variance: budget.zip(actual).map(|(b, a)| a - b),
                at_pace: actual.and_then(|a| {
                    if cat.measured() {
                        at_pace(a, c.elapsed(), c.total())
                    } else {
                        Some(a)
                    }
                }),
            }
        })
        .collect();
    Ok(BudgetReport {
        month: month.trim().into(),
        currency: crate::settings::load(tx)?.currency.as_str().into(),
        days_elapsed: c.elapsed(),
        days_in_month: c.total(),
        lines,
    })
}

/// A target's standing.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct TargetLine {
    /// Null for the whole store.
    pub channel: Option<String>,
    pub target_revenue: i64,
    pub revenue_to_date: i64,
    pub revenue_at_pace: Option<i64>,
    pub revenue_forecast: i64,
    /// `target - forecast`: above 0 is the shortfall still to make up.
    pub revenue_gap: i64,
    pub target_orders: Option<i64>,
    pub orders_to_date: i64,
    pub orders_at_pace: Option<i64>,
    pub orders_forecast: i64,
    pub orders_gap: Option<i64>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct TargetReport {
    pub month: String,
    pub currency: String,
    pub days_elapsed: i64,
    pub days_in_month: i64,
    pub targets: Vec<TargetLine>,
}

/// A month's targets against the actual, the pace and the forecast.
pub fn target_report(tx: &mut dyn Sql, ctx: &Ctx, month: &str) -> Result<TargetReport> {
    ctx.actor.require(Permission::AnalyticsRead)?;
    let c = clock(tx, month)?;
    let targets: Vec<(String, i64, Option<i64>)> = tx
        .query(
            "SELECT channel, revenue_minor, orders FROM revenue_targets WHERE month = $1 ORDER BY channel",
            params![month.trim()],
        )?
        .iter()
        .map(|r| Ok((r.get("channel")?, r.get("revenue_minor")?, r.get("orders")?)))
        .collect::<Result<_>>()?;
    // Daily net sales and orders from four weeks before today to today, per channel too.
    let hist_from = c.today.min(c.next - 1) - 27;
    let until = (c.today + 1).min(c.next).max(hist_from + 1);
    let store = kpi_report(
        tx,
        hist_from.min(c.first),
        until.max(c.first + 1),
        true,
        false,
    )?;
    let channels = if targets.iter().any(|t| !t.0.is_empty()) {
        Some(kpi_report(
            tx,
            hist_from.min(c.first),
            until.max(c.first + 1),
            true,
            true,
        )?)
    } else {
        None
    };
    let mut lines = Vec::with_capacity(targets.len());
    for (channel, revenue, orders) in targets {
        // The KPI layer groups by the channel's name.
        let shown = match crate::catalog::channel_id(tx, &channel)? {
            Some(id) if !channel.is_empty() => crate::catalog::get_channel(tx, id)?.name,
            _ => channel.clone(),
        };
        let rows: Vec<(i32, i64, i64)> = match (&channels, channel.is_empty()) {
            (_, true) => store
                .series
                .iter()
                .filter_map(|r| {
                    Some((
                        parse_day(r.bucket.as_deref()?)?,
                        r.kpis.net_sales,
                        r.kpis.orders,
                    ))
                })
                .collect(),
            (Some(ch), false) => ch
                .breakdown
                .iter()
                .filter(|r| {
                    r.group.as_deref().is_some_and(|g| {
                        g.eq_ignore_ascii_case(&shown) || g.eq_ignore_ascii_case(&channel)
                    })
                })
                .filter_map(|r| {
                    Some((
                        parse_day(r.bucket.as_deref()?)?,
                        r.kpis.net_sales,
                        r.kpis.orders,
                    ))
                })
                .collect(),
            (None, false) => Vec::new(),
        };
        let sum = |range: std::ops::Range<i32>, pick: fn(&(i32, i64, i64)) -> i64| -> i64 {
            rows.iter().filter(|r| range.contains(&r.0)).map(pick).sum()
        };
        let history = |pick: fn(&(i32, i64, i64)) -> i64| -> Vec<i64> {
            (0..28)
                .map(|i| rows.iter().filter(|r| r.0 == hist_from + i).map(pick).sum())
                .collect()
        };
        let rest: Vec<u8> = c.rest().map(weekday).collect();
        let (rev, ord) = (sum(c.so_far(), |r| r.1), sum(c.so_far(), |r| r.2));
        let rev_fc = rev + forecast_rest(&history(|r| r.1), weekday(hist_from), &rest);
        let ord_fc = ord + forecast_rest(&history(|r| r.2), weekday(hist_from), &rest);
        lines.push(TargetLine {
            channel: (!channel.is_empty()).then_some(channel),
            target_revenue: revenue,
            revenue_to_date: rev,
            revenue_at_pace: at_pace(rev, c.elapsed(), c.total()),
            revenue_forecast: rev_fc,
            revenue_gap: revenue - rev_fc,
            target_orders: orders,
            orders_to_date: ord,
            orders_at_pace: at_pace(ord, c.elapsed(), c.total()),
            orders_forecast: ord_fc,
            orders_gap: orders.map(|o| o - ord_fc),
        });
    }
    Ok(TargetReport {
        month: month.trim().into(),
        currency: crate::settings::load(tx)?.currency.as_str().into(),
        days_elapsed: c.elapsed(),
        days_in_month: c.total(),
        targets: lines,
    })
}
