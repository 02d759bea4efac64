//! Budgets: campaign budgets (caps on ad spend, discount cost and uses over a campaign's dates,
//! with spend against them, the pace to the end, ROAS and CAC), and operating budgets and
//! revenue targets per month ([`plan`]).
//!
//! A promotion tied to a campaign with a budget claims its discount from the budget in the
//! order's transaction ([`claim`]): the update goes through only while the discount and the
//! uses stay within their caps, so racing orders never take the budget past its cap; a
//! cancelled order gives its discount back ([`give_back`]).

pub mod plan;

use crate::analytics::report::{KpiQuery, Opts, kpis};
use crate::db::{Sql, query_as, query_one_as};
use crate::{Ctx, Error, Result, audit, params};
use backroom_domain::analytics::{format_day, parse_day};
use backroom_domain::budgets::at_pace;
use backroom_domain::roles::Permission;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// A new campaign budget.
#[derive(Deserialize, Serialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewCampaignBudget {
    /// The UTM campaign (matched without case), as ad spend and attribution know it.
    pub campaign: String,
    /// First day, `YYYY-MM-DD`, in the store's zone.
    pub starts_on: String,
    /// Last day (included).
    pub ends_on: String,
    /// Minor units of the store's currency.
    pub ad_spend_cap: Option<i64>,
    pub discount_cap: Option<i64>,
    /// Orders its promotions may be used on.
    pub usage_cap: Option<i64>,
}

/// A change to a campaign budget's caps or dates.
#[derive(Deserialize, Serialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct CampaignBudgetPatch {
    pub ends_on: Option<String>,
    pub ad_spend_cap: Option<i64>,
    pub discount_cap: Option<i64>,
    pub usage_cap: Option<i64>,
}

/// A campaign budget with its spend so far.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct CampaignBudget {
    pub id: i64,
    pub campaign: String,
    pub starts_on: String,
    pub ends_on: String,
    pub currency: String,
    pub ad_spend_cap: Option<i64>,
    pub discount_cap: Option<i64>,
    pub usage_cap: Option<i64>,
    /// Ad spend recorded for the campaign on its days.
    pub ad_spend: i64,
    /// Discounts its promotions gave (exact: claimed at placement, given back on cancel).
    pub discount_spent: i64,
    pub uses: i64,
    /// Where ad spend and discount end at the pace so far (null before the first day).
    pub ad_spend_at_pace: Option<i64>,
    pub discount_at_pace: Option<i64>,
    /// Sales credited to the campaign (last non-direct click) on its days.
    pub attributed_sales: i64,
    pub new_customers: i64,
    /// `attributed_sales / ad_spend`.
    pub roas: Option<f64>,
    /// `ad_spend / new_customers`.
    pub cac: Option<i64>,
    /// `on_track`, `over_pace` (a cap will be passed at this pace), `exhausted` (a cap is
    /// reached), `ended` or `scheduled`.
    pub status: String,
}

crate::row! {
    struct BudgetRow {
        id: i64, campaign: String, starts_on: i64, ends_on: i64, ad_spend_cap: Option<i64>,
        discount_cap: Option<i64>, usage_cap: Option<i64>, discount_spent: i64, uses: i64,
    }
}

const COLUMNS: &str =
    "id, campaign, starts_on, ends_on, ad_spend_cap, discount_cap, usage_cap, discount_spent, uses";

fn day(field: &str, s: &str) -> Result<i32> {
    parse_day(s.trim()).ok_or_else(|| Error::invalid(field, "must be a date like 2026-11-23"))
}

fn cap(field: &str, v: Option<i64>) -> Result<Option<i64>> {
    match v {
        Some(n) if n < 0 => Err(Error::invalid(field, "must be 0 or more")),
        other => Ok(other),
    }
}

/// Creates a campaign's budget (marketing's, operations' or an admin's); one per campaign.
pub fn create(tx: &mut dyn Sql, ctx: &Ctx, b: &NewCampaignBudget) -> Result<CampaignBudget> {
    ctx.actor.require(Permission::MarketingWrite)?;
    let campaign = backroom_domain::values::required_text("campaign", &b.campaign, 200)?;
    let (from, last) = (day("starts_on", &b.starts_on)?, day("ends_on", &b.ends_on)?);
    if last < from {
        return Err(Error::invalid("ends_on", "must be on or after starts_on"));
    }
    let caps = (
        cap("ad_spend_cap", b.ad_spend_cap)?,
        cap("discount_cap", b.discount_cap)?,
        cap("usage_cap", b.usage_cap)?,
    );
    if caps == (None, None, None) {
        return Err(Error::invalid(
            "ad_spend_cap",
            "a budget caps ad spend, discounts or uses (or several)",
        ));
    }
    let id = tx
        .query_one(
            "INSERT INTO campaign_budgets (campaign, campaign_key, starts_on, ends_on, ad_spend_cap, discount_cap, usage_cap, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (campaign_key) DO NOTHING RETURNING id",
            params![campaign.as_str(), campaign.to_lowercase(), i64::from(from), i64::from(last) + 1, caps.0, caps.1, caps.2, ctx.now],
        )?
        .map(|r| r.get::<i64>("id"))
        .transpose()?
        .ok_or_else(|| Error::Conflict {
            code: "budget_exists",
            message: format!("{campaign} already has a budget; change it instead"),
            field: Some("campaign".into()),
        })?;
    crate::promotions::bump_generation(tx)?;
    audit::record(
        tx,
        ctx,
        "campaign_budget.created",
        "campaign_budget",
        id,
        json!({"campaign": campaign, "caps": [caps.0, caps.1, caps.2]}),
    )?;
    get(tx, ctx, id)
}

/// Changes a campaign budget's end or caps.
pub fn update(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    id: i64,
    p: &CampaignBudgetPatch,
) -> Result<CampaignBudget> {
    ctx.actor.require(Permission::MarketingWrite)?;
    let r = row(tx, id)?;
    if let Some(e) = &p.ends_on {
        let last = day("ends_on", e)?;
        if i64::from(last) < r.starts_on {
            return Err(Error::invalid("ends_on", "must be on or after starts_on"));
        }
        tx.exec(
            "UPDATE campaign_budgets SET ends_on = $1 WHERE id = $2",
            params![i64::from(last) + 1, id],
        )?;
    }
    for (col, v) in [
        ("ad_spend_cap", p.ad_spend_cap),
        ("discount_cap", p.discount_cap),
        ("usage_cap", p.usage_cap),
    ] {
        if let Some(v) = cap(col, v)? {
            tx.exec(
                &format!("UPDATE campaign_budgets SET {col} = $1 WHERE id = $2"),
                params![v, id],
            )?;
        }
    }
    tx.exec(
        "UPDATE campaign_budgets SET updated_at = $1 WHERE id = $2",
        params![ctx.now, id],
    )?;
    crate::promotions::bump_generation(tx)?;
    audit::record(
        tx,
        ctx,
        "campaign_budget.updated",
        "campaign_budget",
        id,
        serde_json::to_value(p).unwrap_or_default(),
    )?;
    get(tx, ctx, id)
}

fn row(tx: &mut dyn Sql, id: i64) -> Result<BudgetRow> {
    query_one_as::<BudgetRow>(
        tx,
        &format!("SELECT {COLUMNS} FROM campaign_budgets WHERE id = $1"),
        params![id],
    )?
    .ok_or(Error::NotFound {
        entity: "campaign budget",
    })
}

pub fn get(tx: &mut dyn Sql, ctx: &Ctx, id: i64) -> Result<CampaignBudget> {
    ctx.actor.require(Permission::AnalyticsRead)?;
    let r = row(tx, id)?;
    view(tx, r)
}

/// Every campaign budget, latest first, with its spend.
pub fn list(tx: &mut dyn Sql, ctx: &Ctx) -> Result<Vec<CampaignBudget>> {
    ctx.actor.require(Permission::AnalyticsRead)?;
    let rows = query_as::<BudgetRow>(
        tx,
        &format!(
            "SELECT {COLUMNS} FROM campaign_budgets ORDER BY starts_on DESC, id DESC LIMIT 200"
        ),
        &[],
    )?;
    rows.into_iter().map(|r| view(tx, r)).collect()
}

/// The budget with its spend: ad spend from the recorded spend, attribution from the KPI layer
/// (its campaign row) over the budget's days up to today.
fn view(tx: &mut dyn Sql, r: BudgetRow) -> Result<CampaignBudget> {
    let s = crate::settings::load(tx)?;
    let zone = crate::analytics::Zone::get(&s.timezone)?;
    let today = zone.day_of(crate::util::now_micros());
    let (from, to) = (r.starts_on as i32, r.ends_on as i32);
    let until = to.min(today + 1);
    let key = r.campaign.to_lowercase();
    let (mut spend, mut sales, mut new_customers) = (0, 0, 0);
    if until > from {
        spend = crate::analytics::marketing::list_spend(tx, from, until)?
            .iter()
            .filter(|x| x.campaign.to_lowercase() == key && x.currency == s.currency.as_str())
            .map(|x| x.amount)
            .sum();
        let q = KpiQuery {
            from: format_day(from),
            to: format_day(until),
            breakdown: Some("campaign".into()),
            compare: Some(false),
            ..KpiQuery::default()
        };
        let (p, o) = Opts::from_query(tx, &q)?;
        if let Some(row) = kpis(tx, p, &o)?
            .breakdown
            .into_iter()
            .find(|b| b.group.as_deref().is_some_and(|g| g.to_lowercase() == key))
        {
            sales = row.kpis.attributed_sales;
            new_customers = row.kpis.new_customers;
        }
    }
    let (elapsed, total) = (i64::from(until - from), i64::from(to - from));
    let spend_pace = at_pace(spend, elapsed, total);
    let discount_pace = at_pace(r.discount_spent, elapsed, total);
    let status = if today < from {
        "scheduled"
    } else if r.discount_cap.is_some_and(|c| r.discount_spent >= c)
        || r.usage_cap.is_some_and(|c| r.uses >= c)
        || r.ad_spend_cap.is_some_and(|c| spend >= c)
    {
        "exhausted"
    } else if today >= to {
        "ended"
    } else if r.ad_spend_cap.zip(spend_pace).is_some_and(|(c, p)| p > c)
        || r.discount_cap
            .zip(discount_pace)
            .is_some_and(|(c, p)| p > c)
    {
        "over_pace"
    } else {
        "on_track"
    };
    Ok(CampaignBudget {
        id: r.id,
        starts_on: format_day(from),
        ends_on: format_day(to - 1),
        currency: s.currency.as_str().to_string(),
        ad_spend_cap: r.ad_spend_cap,
        discount_cap: r.discount_cap,
        usage_cap: r.usage_cap,
        ad_spend: spend,
        discount_spent: r.discount_spent,
        uses: r.uses,
        ad_spend_at_pace: spend_pace,
        discount_at_pace: discount_pace,
        attributed_sales: sales,
        new_customers,
        roas: (spend != 0).then(|| sales as f64 / spend as f64),
        cac: (spend != 0 && new_customers != 0).then(|| {
            i64::try_from(backroom_domain::money::div_round_half_even(
                i128::from(spend),
                i128::from(new_customers),
            ))
            .unwrap_or(0)
        }),
        status: status.into(),
        campaign: r.campaign,
    })
}

/// The campaigns (lower-cased) that have a budget: promotions tied to them claim from it.
pub(crate) fn budgeted(tx: &mut dyn Sql) -> Result<Vec<String>> {
    tx.query("SELECT campaign_key FROM campaign_budgets", &[])?
        .iter()
        .map(|r| Ok(r.get::<String>("campaign_key")?))
        .collect()
}

/// Takes a discount and a use from the campaign's budget, in the order's transaction, only
/// while both stay within their caps; false when the budget cannot give them (the promotion
/// then does not apply).
pub(crate) fn claim(tx: &mut dyn Sql, campaign: &str, amount: i64) -> Result<bool> {
    let n = tx.exec(
        "UPDATE campaign_budgets SET discount_spent = discount_spent + $2, uses = uses + 1 \
         WHERE campaign_key = $1 \
           AND (discount_cap IS NULL OR discount_spent + $2 <= discount_cap) AND (usage_cap IS NULL OR uses < usage_cap)",
        params![campaign.to_lowercase(), amount],
    )?;
    Ok(n == 1)
}

/// Moves a campaign's discount by an edited order's difference (uses unchanged).
pub(crate) fn adjust(tx: &mut dyn Sql, campaign: &str, delta: i64) -> Result<()> {
    tx.exec(
        "UPDATE campaign_budgets SET discount_spent = discount_spent + $2 WHERE campaign_key = $1",
        params![campaign.to_lowercase(), delta],
    )?;
    Ok(())
}

/// Gives back a discount and a use (a cancelled order's, or a claim undone).
pub(crate) fn give_back(tx: &mut dyn Sql, campaign: &str, amount: i64) -> Result<()> {
    tx.exec(
        "UPDATE campaign_budgets SET discount_spent = discount_spent - $2, uses = uses - 1 WHERE campaign_key = $1",
        params![campaign.to_lowercase(), amount],
    )?;
    Ok(())
}
