//! The KPI engine: every KPI of DOMAIN.md for a period of local days, with comparisons, a time
//! series, breakdowns, the funnel, and the customer views (new vs returning, cohorts, CLV).
//!
//! A report loads the period's facts (sessions, orders, lines, refunds, ad spend, email events)
//! once, then folds them into accumulators keyed by time bucket and breakdown group. Every KPI is
//! computed from an accumulator by [`Acc::kpis`], so the totals, the series and the breakdowns
//! share one definition.

use super::Zone;
use crate::db::{DbError, FromRow, Row, Sql, query_as};
use crate::{Error, Result, params, settings};
use backroom_domain::Currency;
use backroom_domain::analytics::{
    DIRECT, Grain, NONE, format_day, parse_day, per, ratio, year_earlier,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use utoipa::{IntoParams, ToSchema};

/// A period of local days, `[from, to)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub from: i32,
    pub to: i32,
}

impl Period {
    pub fn parse(from: &str, to: &str) -> Result<Period> {
        let from_day = parse_day(from.trim())
            .ok_or_else(|| Error::invalid("from", "must be a date like 2026-11-01"))?;
        let to_day = parse_day(to.trim())
            .ok_or_else(|| Error::invalid("to", "must be a date like 2026-12-01 (exclusive)"))?;
        if to_day <= from_day {
            return Err(Error::invalid("to", "must be after from"));
        }
        if to_day - from_day > 3660 {
            return Err(Error::invalid("to", "a period may span at most ten years"));
        }
        Ok(Period {
            from: from_day,
            to: to_day,
        })
    }
    pub fn days(&self) -> i32 {
        self.to - self.from
    }
    /// The period of the same length just before.
    pub fn previous(&self) -> Period {
        Period {
            from: self.from - self.days(),
            to: self.from,
        }
    }
    /// The same dates a year earlier.
    pub fn last_year(&self) -> Period {
        Period {
            from: year_earlier(self.from),
            to: year_earlier(self.to),
        }
    }
}

/// What a report can be broken down by.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Dim {
    Channel,
    Campaign,
    Source,
    Medium,
    Device,
    Country,
    Product,
    LandingPage,
}

impl Dim {
    pub fn parse(s: &str) -> Option<Dim> {
        Some(match s {
            "channel" => Dim::Channel,
            "campaign" => Dim::Campaign,
            "source" => Dim::Source,
            "medium" => Dim::Medium,
            "device" => Dim::Device,
            "country" => Dim::Country,
            "product" => Dim::Product,
            "landing_page" => Dim::LandingPage,
            _ => return None,
        })
    }
}

#[derive(Deserialize, IntoParams, Clone, Debug, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct KpiQuery {
    /// First local day, `YYYY-MM-DD`.
    pub from: String,
    /// Day after the last, `YYYY-MM-DD` (the period is `[from, to)`).
    pub to: String,
    /// A time series by `day`, `week` or `month`.
    pub by: Option<String>,
    /// Groups by `channel`, `campaign`, `source`, `medium`, `device`, `country`, `product` or
    /// `landing_page`.
    pub breakdown: Option<String>,
    /// Money KPIs count orders in this currency; the store's by default.
    pub currency: Option<String>,
    /// Compare with the previous period and the same period last year (default true).
    pub compare: Option<bool>,
}

/// Every KPI of DOMAIN.md that events, orders, spend and email give. Ratios are decimals in
/// [0, 1] (null when there is nothing to divide by); money is minor units of `currency`.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, Default, PartialEq)]
pub struct Kpis {
    /// `gross_sales - refunds`.
    pub net_sales: i64,
    /// `Σ (subtotal - discounts)` over orders placed in the period.
    pub gross_sales: i64,
    /// Merchandise refunded in the period (refunds of orders that are not cancelled).
    pub refunds: i64,
    pub orders: i64,
    /// `gross_sales / orders`, rounded half-to-even.
    pub aov: Option<i64>,
    pub units_sold: i64,
    pub sessions: i64,
    pub unique_visitors: i64,
    pub bounce_rate: Option<f64>,
    pub avg_session_seconds: Option<f64>,
    pub conversion_rate: Option<f64>,
    pub cart_abandonment_rate: Option<f64>,
    /// Customers with an order in the period.
    pub customers: i64,
    /// Customers whose first non-cancelled order is in the period.
    pub new_customers: i64,
    pub returning_customers: i64,
    /// Customers with two or more orders in the period / customers.
    pub repeat_customer_rate: Option<f64>,
    pub ad_spend: i64,
    /// `ad_spend / new_customers`.
    pub cac: Option<i64>,
    /// Gross sales of orders credited to a campaign (last non-direct click), paid or not.
    pub attributed_sales: i64,
    /// The part of `attributed_sales` credited to campaigns (source, medium, campaign) with ad
    /// spend in the period: what ROAS measures.
    pub paid_attributed_sales: i64,
    /// The part credited to campaigns without ad spend (email, referral, organic social),
    /// reported beside ROAS, never in it.
    pub unpaid_attributed_sales: i64,
    /// `paid_attributed_sales / ad_spend`.
    pub roas: Option<f64>,
    pub emails_sent: i64,
    pub emails_delivered: i64,
    pub email_unique_opens: i64,
    /// `unique opens / (sent - bounced)`.
    pub email_open_rate: Option<f64>,
    pub units_returned: i64,
    /// Units returned / units sold, for lines of orders placed in the period.
    pub return_rate: Option<f64>,
    /// Cost of the units sold whose variant has a unit cost.
    pub cogs: i64,
    /// What promotions took off the lines of orders placed in the period (gross sales are
    /// after it).
    pub discounts: i64,
    /// Orders placed in the period with a discount.
    pub orders_with_discount: i64,
    /// `(sales - cogs) / sales` over lines whose variant has a unit cost.
    pub gross_margin: Option<f64>,
}

/// One row of a series or breakdown.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct KpiRow {
    /// First day of the bucket (`by`), or null.
    pub bucket: Option<String>,
    /// The breakdown group, or null.
    pub group: Option<String>,
    pub kpis: Kpis,
    /// Why some KPIs of the row are empty, when the data says: a channel other than the
    /// storefront's has no sessions, so no traffic or conversion rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct KpiReport {
    pub from: String,
    pub to: String,
    pub currency: String,
    pub timezone: String,
    pub totals: Kpis,
    pub previous: Option<Kpis>,
    /// The same dates a year earlier; null when the period is longer than a year (the two would
    /// overlap, and a change between them would mean nothing), with `last_year_note` saying so.
    pub last_year: Option<Kpis>,
    /// Why there is no last-year comparison, when there is none although one was asked for.
    pub last_year_note: Option<String>,
    /// One row per bucket when `by` is given (every bucket, empty ones too).
    pub series: Vec<KpiRow>,
    /// The previous period by the same buckets, when `by` and `compare` are given: what a chart
    /// draws beside the series.
    #[serde(default)]
    pub previous_series: Vec<KpiRow>,
    /// One row per group (and bucket, when `by` is given) when `breakdown` is given.
    pub breakdown: Vec<KpiRow>,
}

/// The facts of one period.
#[derive(Default)]
pub struct Facts {
    pub sessions: Vec<SessionFact>,
    /// Instead of `sessions`, for a breakdown over the whole period: what the sessions are
    /// grouped by, and each group's sums and distinct visitors, counted by the database.
    pub session_groups: Option<(Dim, Vec<SessionGroup>)>,
    pub orders: Vec<OrderFact>,
    pub lines: Vec<LineFact>,
    pub refunds: Vec<RefundFact>,
    pub spend: Vec<SpendFact>,
    pub email: Vec<EmailFact>,
}

/// The sessions of one breakdown group over a whole period.
#[derive(Default)]
pub struct SessionGroup {
    pub key: String,
    pub sessions: i64,
    pub bounces: i64,
    pub duration: i64,
    pub converted: i64,
    pub carts: i64,
    pub abandoned: i64,
    pub visitors: i64,
}

pub struct SessionFact {
    pub visitor: i64,
    pub day: i32,
    pub duration: i64,
    pub bounced: bool,
    pub product_view: bool,
    pub cart: bool,
    pub checkout: bool,
    pub purchase: bool,
    pub source: String,
    pub medium: String,
    pub campaign: String,
    pub device: String,
    pub country: String,
    pub landing: String,
    /// The storefront's channel: [`STOREFRONT_CHANNEL`].
    pub channel: String,
}

/// The channel storefront sessions belong to: the store's first online channel (events come
/// from its storefront). Other channels (boutiques, marketplaces, phone) have no sessions.
const STOREFRONT_CHANNEL: &str = "COALESCE((SELECT ch.name FROM channels ch WHERE ch.kind = 'online' ORDER BY ch.id LIMIT 1), 'online')";

/// Where an order is credited: its purchase event's attribution, or direct when it has none.
#[derive(Clone, Debug)]
pub struct Credit {
    pub source: String,
    pub medium: String,
    pub campaign: String,
    pub device: String,
    pub country: String,
}

impl Credit {
    fn none() -> Credit {
        Credit {
            source: DIRECT.into(),
            medium: NONE.into(),
            campaign: NONE.into(),
            device: "unknown".into(),
            country: "unknown".into(),
        }
    }
}

/// The customer of an order that belongs to none (a guest invoice of an imported history).
pub const NO_CUSTOMER: i64 = 0;

pub struct OrderFact {
    pub id: i64,
    pub day: i32,
    pub currency: String,
    pub channel: String,
    /// [`NO_CUSTOMER`] for a guest order: it counts in orders and sales, never as a customer.
    pub customer: i64,
    pub merchandise: i64,
    /// What promotions took off its lines.
    pub discounts: i64,
    pub first_order: bool,
    pub credit: Credit,
}

pub struct LineFact {
    pub order: usize,
    pub sku: String,
    pub quantity: i64,
    pub net: i64,
    pub returned: i64,
    pub cost: Option<i64>,
}

pub struct RefundFact {
    /// The refunded order's id.
    pub order: i64,
    pub day: i32,
    pub currency: String,
    pub merchandise: i64,
    pub channel: String,
    pub credit: Credit,
}

pub struct SpendFact {
    pub day: i32,
    pub source: String,
    pub medium: String,
    pub campaign: String,
    pub amount: i64,
}

/// Sends of one campaign on one day with what became of their recipients whenever that
/// happened: the open rate is the unique opens of the sends of a period over those sends
/// delivered, so it does not depend on how long the period is (DOMAIN.md). From raw rows, one
/// send; from the rollups, a campaign's day.
pub struct EmailFact {
    pub day: i32,
    pub campaign: String,
    pub sent: i64,
    /// The sends whose recipient bounced.
    pub bounced: i64,
    /// The opened pairs (campaign and recipient) among the other sends, each by the id of the
    /// pair's first send.
    pub opened: Vec<i64>,
}

const ORDER_CREDIT: &str = "LEFT JOIN an_purchases p ON p.seq = (SELECT MIN(q.seq) FROM an_purchases q WHERE q.order_number = o.number)";

/// An order's country is where it ships (its address), not where the session that bought it
/// was: a boutique sale or an imported history has no session. An order with no known
/// destination (`ZZ`, or none) is `unknown`.
fn ship_to(mut c: Credit, country: String) -> Credit {
    c.country = match country.as_str() {
        "" | "ZZ" => "unknown".into(),
        _ => country,
    };
    c
}

/// The credit of a row joined with [`ORDER_CREDIT`]: its columns `source`, `medium`, `campaign`,
/// `device` and `country`, all NULL when the order has no purchase event.
fn credit(r: &Row) -> std::result::Result<Credit, DbError> {
    Ok(match r.get::<Option<String>>("source")? {
        None => Credit::none(),
        Some(source) => Credit {
            source,
            medium: r.get("medium")?,
            campaign: r.get("campaign")?,
            device: r.get("device")?,
            country: r.get("country")?,
        },
    })
}

/// Loads the facts of a period.
pub fn load(tx: &mut dyn Sql, zone: &Zone, p: Period, currency: Currency) -> Result<Facts> {
    load_for(tx, zone, p, currency, None, None, false)
}

/// Loads the facts of a period that [`fold`] uses for a breakdown by `dim` (all of them with
/// none): sessions have no product (their channel is the storefront's), spend only a campaign,
/// source and medium, email only a campaign, and a product breakdown counts lines alone. With
/// `rollups`, a breakdown over the whole period reads its session groups and email from the
/// rollups; orders, lines and refunds are always read raw.
fn load_for(
    tx: &mut dyn Sql,
    zone: &Zone,
    p: Period,
    currency: Currency,
    dim: Option<Dim>,
    grain: Option<Grain>,
    rollups: bool,
) -> Result<Facts> {
    let (d0, d1) = (i64::from(p.from), i64::from(p.to));
    let cur = currency.as_str();
    let o = load_orders(tx, zone, p, Some(cur))?;
    let uses = |dims: &[Dim]| dim.is_none_or(|d| dims.contains(&d));
    use Dim::*;
    let session_dim = uses(&[
        Campaign,
        Source,
        Medium,
        Device,
        Country,
        LandingPage,
        Channel,
    ]);
    let (sessions, session_groups) = match dim {
        Some(d) if session_dim && grain.is_none() => {
            let groups = match rollups {
                true => rolled_session_groups(tx, p, d)?,
                false => None,
            };
            let groups = match groups {
                Some(g) => g,
                None => session_groups(tx, p, d)?,
            };
            (Vec::new(), Some((d, groups)))
        }
        _ if session_dim => (load_sessions(tx, p, dim)?, None),
        _ => (Vec::new(), None),
    };
    let mut f = Facts {
        sessions,
        session_groups,
        orders: o.orders,
        lines: o.lines,
        refunds: o.refunds,
        ..Default::default()
    };
    if !uses(&[Campaign, Source, Medium]) {
        return Ok(f);
    }
    f.spend = query_as(
        tx,
        "SELECT day, source, medium, campaign, amount_minor AS amount FROM ad_spend WHERE day >= $1 AND day < $2 AND currency = $3",
        params![d0, d1, cur],
    )?;
    if uses(&[Campaign]) {
        f.email = match rollups {
            true => email_days(tx, p)?,
            false => load_email(tx, zone, p)?,
        };
    }
    Ok(f)
}

/// The column of `an_sessions` a breakdown groups sessions by; `None` for the dimensions
/// sessions do not have.
fn session_column(d: Dim) -> Option<&'static str> {
    Some(match d {
        Dim::Source => "source",
        Dim::Medium => "medium",
        Dim::Campaign => "campaign",
        Dim::Device => "device",
        Dim::Country => "country",
        Dim::LandingPage => "landing_path",
        Dim::Channel => STOREFRONT_CHANNEL,
        Dim::Product => return None,
    })
}

/// The sessions of a period summed per group of a session attribute, with each group's
/// distinct visitors: what a breakdown over the whole period needs, without reading every
/// session out of the database.
fn session_groups(tx: &mut dyn Sql, p: Period, d: Dim) -> Result<Vec<SessionGroup>> {
    let Some(col) = session_column(d) else {
        return Ok(Vec::new());
    };
    Ok(query_as(
        tx,
        &format!(
            "SELECT {col} AS group_key, COUNT(*) AS sessions, CAST(SUM(CASE WHEN events = 1 AND page_views = 1 THEN 1 ELSE 0 END) AS BIGINT) AS bounces, \
               CAST(SUM(end_ts - start_ts) AS BIGINT) AS duration, CAST(SUM(CASE WHEN purchases > 0 THEN 1 ELSE 0 END) AS BIGINT) AS converted, \
               CAST(SUM(CASE WHEN carts > 0 THEN 1 ELSE 0 END) AS BIGINT) AS cart_sessions, \
               CAST(SUM(CASE WHEN carts > 0 AND purchases = 0 THEN 1 ELSE 0 END) AS BIGINT) AS abandoned, COUNT(DISTINCT visitor_key) AS visitors \
             FROM an_sessions WHERE day >= $1 AND day < $2 GROUP BY {col}"
        ),
        params![i64::from(p.from), i64::from(p.to)],
    )?)
}

/// [`session_groups`] from the session rollups, whose rows carry their visitors: `None` for a
/// dimension they do not have (the landing page).
fn rolled_session_groups(tx: &mut dyn Sql, p: Period, d: Dim) -> Result<Option<Vec<SessionGroup>>> {
    let col = match (d, session_column(d)) {
        (Dim::LandingPage, _) | (_, None) => return Ok(None),
        (_, Some(c)) => c,
    };
    crate::row! {
        /// A session rollup row, with the group it falls in.
        struct GroupRow {
            group_key: String,
            sessions: i64,
            bounces: i64,
            duration: i64,
            converted: i64,
            carts: i64,
            abandoned: i64,
            visitors: String,
        }
    }
    let mut groups: BTreeMap<String, (SessionGroup, Vec<(i64, i64)>)> = BTreeMap::new();
    for r in query_as::<GroupRow>(
        tx,
        &format!(
            "SELECT {col} AS group_key, sessions, bounces, duration, converted, carts, abandoned, visitors \
             FROM an_session_days WHERE day >= $1 AND day < $2"
        ),
        params![i64::from(p.from), i64::from(p.to)],
    )? {
        let (g, members) = groups.entry(r.group_key).or_insert_with_key(|k| {
            let g = SessionGroup {
                key: k.clone(),
                ..Default::default()
            };
            (g, Vec::new())
        });
        g.sessions += r.sessions;
        g.bounces += r.bounces;
        g.duration += r.duration;
        g.converted += r.converted;
        g.carts += r.carts;
        g.abandoned += r.abandoned;
        super::rollup::decode(&r.visitors, |id, n| members.push((id, n)));
    }
    Ok(Some(
        groups
            .into_values()
            .map(|(mut g, members)| {
                g.visitors = distinct(&members).0;
                g
            })
            .collect(),
    ))
}

impl FromRow for SessionGroup {
    fn from_row(r: &Row) -> std::result::Result<Self, DbError> {
        Ok(SessionGroup {
            key: r.get("group_key")?,
            sessions: r.get("sessions")?,
            bounces: r.get("bounces")?,
            duration: r.get("duration")?,
            converted: r.get("converted")?,
            carts: r.get("cart_sessions")?,
            abandoned: r.get("abandoned")?,
            visitors: r.get("visitors")?,
        })
    }
}

/// The sessions that started on the period's days. With a breakdown, only its own attribute is
/// read (the others stay empty): a period holds many sessions.
pub fn load_sessions(tx: &mut dyn Sql, p: Period, dim: Option<Dim>) -> Result<Vec<SessionFact>> {
    let attributes: Vec<String> = [
        Dim::Source,
        Dim::Medium,
        Dim::Campaign,
        Dim::Device,
        Dim::Country,
        Dim::LandingPage,
        Dim::Channel,
    ]
    .into_iter()
    .zip(SESSION_ATTRIBUTES)
    .map(|(d, name)| match session_column(d) {
        Some(c) if dim.is_none_or(|x| x == d) => format!("{c} AS {name}"),
        _ => format!("'' AS {name}"),
    })
    .collect();
    let sql = format!(
        "SELECT visitor_key, day, end_ts - start_ts AS duration, events, page_views, product_views, carts, checkouts, purchases, {} \
         FROM an_sessions WHERE day >= $1 AND day < $2",
        attributes.join(", ")
    );
    Ok(query_as(
        tx,
        &sql,
        params![i64::from(p.from), i64::from(p.to)],
    )?)
}

/// The names [`load_sessions`] gives the session attributes, in the order it reads them.
const SESSION_ATTRIBUTES: [&str; 7] = [
    "source", "medium", "campaign", "device", "country", "landing", "channel",
];

impl FromRow for SessionFact {
    fn from_row(r: &Row) -> std::result::Result<Self, DbError> {
        let count = |name: &str| r.get::<i64>(name);
        Ok(SessionFact {
            visitor: r.get("visitor_key")?,
            day: r.get::<i64>("day")? as i32,
            duration: r.get("duration")?,
            bounced: count("events")? == 1 && count("page_views")? == 1,
            product_view: count("product_views")? > 0,
            cart: count("carts")? > 0,
            checkout: count("checkouts")? > 0,
            purchase: count("purchases")? > 0,
            source: r.get("source")?,
            medium: r.get("medium")?,
            campaign: r.get("campaign")?,
            device: r.get("device")?,
            country: r.get("country")?,
            landing: r.get("landing")?,
            channel: r.get("channel")?,
        })
    }
}

/// The sends of the period from the raw events, each with whether its recipient bounced and,
/// if not, its pair when opened: what the email rollups must always equal.
pub fn load_email(tx: &mut dyn Sql, zone: &Zone, p: Period) -> Result<Vec<EmailFact>> {
    crate::row! {
        /// A send of the period and its outcome.
        struct SendRow { ts: i64, campaign: String, bounced: i64, opened: i64, pair: i64 }
    }
    let outcome = |kind: &str| {
        format!(
            "CASE WHEN EXISTS (SELECT 1 FROM email_events x WHERE x.campaign_id = s.campaign_id \
               AND x.recipient = s.recipient AND x.type = '{kind}') THEN 1 ELSE 0 END"
        )
    };
    let sends: Vec<SendRow> = query_as(
        tx,
        &format!(
            "SELECT s.ts AS ts, COALESCE(c.utm_campaign, c.name) AS campaign, {} AS bounced, {} AS opened, \
               (SELECT MIN(f.id) FROM email_events f WHERE f.campaign_id = s.campaign_id \
                  AND f.recipient = s.recipient AND f.type = 'sent') AS pair \
             FROM email_events s JOIN email_campaigns c ON c.id = s.campaign_id \
             WHERE s.type = 'sent' AND s.ts >= $1 AND s.ts < $2",
            outcome("bounced"),
            outcome("opened")
        ),
        params![zone.start_of(p.from), zone.start_of(p.to)],
    )?;
    Ok(sends
        .into_iter()
        .map(|s| EmailFact {
            day: zone.day_of(s.ts),
            campaign: s.campaign,
            sent: 1,
            bounced: s.bounced,
            opened: if s.bounced == 0 && s.opened == 1 {
                vec![s.pair]
            } else {
                Vec::new()
            },
        })
        .collect())
}

/// The email rollup rows of the period's days, each campaign's day with its campaign's name as
/// reports group by it (its UTM campaign, else its name).
fn email_days(tx: &mut dyn Sql, p: Period) -> Result<Vec<EmailFact>> {
    crate::row! {
        /// A campaign's email day.
        struct EmailDayRow { day: i64, campaign: String, sent: i64, bounced: i64, opened: String }
    }
    Ok(query_as::<EmailDayRow>(
        tx,
        "SELECT e.day AS day, COALESCE(c.utm_campaign, c.name) AS campaign, e.sent AS sent, \
           e.bounced AS bounced, e.opened AS opened \
         FROM an_email_days e JOIN email_campaigns c ON c.id = e.campaign_id \
         WHERE e.day >= $1 AND e.day < $2",
        params![i64::from(p.from), i64::from(p.to)],
    )?
    .into_iter()
    .map(|r| {
        let mut opened = Vec::new();
        super::rollup::decode(&r.opened, |id, _| opened.push(id));
        EmailFact {
            day: r.day as i32,
            campaign: r.campaign,
            sent: r.sent,
            bounced: r.bounced,
            opened,
        }
    })
    .collect())
}

/// The order side of a period: non-cancelled orders placed in it with their lines, and refunds
/// (of non-cancelled orders) made in it; in one currency, or all.
#[derive(Default)]
pub struct OrderFacts {
    pub orders: Vec<OrderFact>,
    pub lines: Vec<LineFact>,
    pub refunds: Vec<RefundFact>,
}

pub fn load_orders(
    tx: &mut dyn Sql,
    zone: &Zone,
    p: Period,
    currency: Option<&str>,
) -> Result<OrderFacts> {
    load_order_facts(tx, zone, Scope::Period(p), currency)
}

/// The facts of these orders (those not cancelled), their lines and all their refunds, whatever
/// their days.
pub fn load_orders_by_id(tx: &mut dyn Sql, zone: &Zone, ids: &[i64]) -> Result<OrderFacts> {
    let mut f = OrderFacts::default();
    for chunk in ids.chunks(1000) {
        let part = load_order_facts(tx, zone, Scope::Ids(chunk), None)?;
        let base = f.orders.len();
        f.orders.extend(part.orders);
        f.lines.extend(part.lines.into_iter().map(|mut l| {
            l.order += base;
            l
        }));
        f.refunds.extend(part.refunds);
    }
    Ok(f)
}

/// Which orders [`load_order_facts`] reads: those placed (and refunds made) in a period, or
/// some orders by id.
enum Scope<'a> {
    Period(Period),
    Ids(&'a [i64]),
}

fn load_order_facts(
    tx: &mut dyn Sql,
    zone: &Zone,
    scope: Scope,
    currency: Option<&str>,
) -> Result<OrderFacts> {
    // The filters of the order, line and refund queries, and their parameters.
    let (orders_in, lines_in, refunds_in, mut args): (String, String, String, Vec<crate::Val>) =
        match scope {
            Scope::Period(p) => (
                "o.placed_at >= $1 AND o.placed_at < $2".into(),
                "o.placed_at >= $1 AND o.placed_at < $2".into(),
                "r.created_at >= $1 AND r.created_at < $2".into(),
                params![zone.start_of(p.from), zone.start_of(p.to)].to_vec(),
            ),
            Scope::Ids(ids) => {
                let ids = crate::db::int_vals(ids);
                let d = tx.dialect();
                let (o, list) = crate::db::in_list(d, "o.id", 1, &ids);
                (
                    o,
                    crate::db::in_list(d, "l.order_id", 1, &ids).0,
                    crate::db::in_list(d, "r.order_id", 1, &ids).0,
                    vec![list],
                )
            }
        };
    let cur_sql = match currency {
        Some(c) => {
            args.push(c.into());
            format!(" AND o.currency = ${}", args.len())
        }
        None => String::new(),
    };
    let mut f = OrderFacts::default();
    let mut index = HashMap::new();
    for r in query_as::<OrderRow>(
        tx,
        &format!(
            "SELECT o.id AS id, o.placed_at AS placed_at, c.name AS channel, CASE WHEN cu.guest <> 0 THEN 0 ELSE o.customer_id END AS customer, \
               o.subtotal_minor - o.discounts_minor - o.included_tax_minor AS merchandise, o.discounts_minor AS discounts, \
               CASE WHEN cu.guest <> 0 THEN 0 WHEN EXISTS (SELECT 1 FROM orders e WHERE e.customer_id = o.customer_id AND e.status <> 'cancelled' AND (e.placed_at < o.placed_at OR (e.placed_at = o.placed_at AND e.id < o.id))) THEN 0 ELSE 1 END AS first_order, \
               p.source AS source, p.medium AS medium, p.campaign AS campaign, p.device AS device, p.country AS country, o.currency AS currency, o.ship_country AS ship_country \
             FROM orders o JOIN channels c ON c.id = o.channel_id JOIN customers cu ON cu.id = o.customer_id {ORDER_CREDIT} \
             WHERE {orders_in} AND o.status <> 'cancelled'{cur_sql} ORDER BY o.id"
        ),
        &args,
    )? {
        index.insert(r.id, f.orders.len());
        f.orders.push(OrderFact {
            id: r.id,
            day: zone.day_of(r.placed_at),
            currency: r.currency,
            channel: r.channel,
            customer: r.customer,
            merchandise: r.merchandise,
            discounts: r.discounts,
            first_order: r.first_order == 1,
            credit: ship_to(r.credit, r.ship_country),
        });
    }
    for r in query_as::<LineRow>(
        tx,
        &format!(
            "SELECT l.order_id AS order_id, l.sku AS sku, l.quantity AS quantity, \
               l.unit_price_minor * l.quantity - l.discount_minor - CASE WHEN o.tax_included <> 0 THEN l.tax_minor ELSE 0 END AS net, \
               l.returned_quantity AS returned_quantity, l.unit_cost_minor AS unit_cost_minor \
             FROM order_lines l JOIN orders o ON o.id = l.order_id \
             WHERE {lines_in} AND o.status <> 'cancelled'{cur_sql} ORDER BY l.id"
        ),
        &args,
    )? {
        if let Some(&order) = index.get(&r.order_id) {
            f.lines.push(LineFact {
                order,
                sku: r.sku,
                quantity: r.quantity,
                net: r.net,
                returned: r.returned_quantity,
                cost: r.unit_cost_minor,
            });
        }
    }
    for r in query_as::<RefundRow>(
        tx,
        &format!(
            "SELECT r.created_at AS created_at, r.merchandise_minor AS merchandise_minor, c.name AS channel, \
               p.source AS source, p.medium AS medium, p.campaign AS campaign, p.device AS device, p.country AS country, \
               o.currency AS currency, o.id AS order_id, o.ship_country AS ship_country \
             FROM refunds r JOIN orders o ON o.id = r.order_id JOIN channels c ON c.id = o.channel_id {ORDER_CREDIT} \
             WHERE {refunds_in} AND o.status <> 'cancelled'{cur_sql}"
        ),
        &args,
    )? {
        f.refunds.push(RefundFact {
            order: r.order_id,
            day: zone.day_of(r.created_at),
            currency: r.currency,
            merchandise: r.merchandise_minor,
            channel: r.channel,
            credit: ship_to(r.credit, r.ship_country),
        });
    }
    Ok(f)
}

/// An order as [`load_order_facts`] reads it: `customer` is [`NO_CUSTOMER`] for a guest order,
/// `first_order` 1 when it is its customer's first non-cancelled order (else 0).
struct OrderRow {
    id: i64,
    placed_at: i64,
    channel: String,
    customer: i64,
    merchandise: i64,
    discounts: i64,
    first_order: i64,
    currency: String,
    ship_country: String,
    credit: Credit,
}

impl FromRow for OrderRow {
    fn from_row(r: &Row) -> std::result::Result<Self, DbError> {
        Ok(OrderRow {
            id: r.get("id")?,
            placed_at: r.get("placed_at")?,
            channel: r.get("channel")?,
            customer: r.get("customer")?,
            merchandise: r.get("merchandise")?,
            discounts: r.get("discounts")?,
            first_order: r.get("first_order")?,
            currency: r.get("currency")?,
            ship_country: r.get("ship_country")?,
            credit: credit(r)?,
        })
    }
}

crate::row! {
    /// An order line as [`load_order_facts`] reads it; `net` is its merchandise net of
    /// discounts and of any tax inside its price.
    struct LineRow {
        order_id: i64,
        sku: String,
        quantity: i64,
        net: i64,
        returned_quantity: i64,
        unit_cost_minor: Option<i64>,
    }
}

/// A refund as [`load_order_facts`] reads it, with its order's channel, currency, credit and
/// destination.
struct RefundRow {
    created_at: i64,
    merchandise_minor: i64,
    channel: String,
    currency: String,
    order_id: i64,
    ship_country: String,
    credit: Credit,
}

impl FromRow for RefundRow {
    fn from_row(r: &Row) -> std::result::Result<Self, DbError> {
        Ok(RefundRow {
            created_at: r.get("created_at")?,
            merchandise_minor: r.get("merchandise_minor")?,
            channel: r.get("channel")?,
            currency: r.get("currency")?,
            order_id: r.get("order_id")?,
            ship_country: r.get("ship_country")?,
            credit: credit(r)?,
        })
    }
}

impl FromRow for SpendFact {
    /// A row of `ad_spend` (its `amount_minor` as `amount`), or its sums per day and campaign.
    fn from_row(r: &Row) -> std::result::Result<Self, DbError> {
        Ok(SpendFact {
            day: r.get::<i64>("day")? as i32,
            source: r.get("source")?,
            medium: r.get("medium")?,
            campaign: r.get("campaign")?,
            amount: r.get("amount")?,
        })
    }
}

/// Running sums for one group; [`Acc::kpis`] turns them into KPIs.
#[derive(Default)]
pub struct Acc {
    sessions: i64,
    bounces: i64,
    duration: i64,
    converted: i64,
    cart_sessions: i64,
    abandoned: i64,
    /// Visitor keys, with repeats until [`Acc::kpis`] sorts them (cheaper than a hash set).
    visitors: Vec<i64>,
    orders: i64,
    seen_orders: HashSet<i64>,
    gross: i64,
    discounts: i64,
    discounted: i64,
    refunds: i64,
    /// (customer, orders), with repeats until [`Acc::kpis`] sums them.
    customers: Vec<(i64, i64)>,
    /// Distinct visitors, customers and repeat customers, when already counted (the rollups).
    known: Option<(i64, i64, i64)>,
    /// Distinct visitors already counted by the database (a group's sessions), beside `visitors`.
    counted_visitors: i64,
    new_customers: i64,
    units: i64,
    returned: i64,
    costed_sales: i64,
    cogs: i64,
    spend: i64,
    attributed: i64,
    /// Attributed sales and ad spend per campaign (source and campaign name, as ad spend is
    /// keyed), so ROAS counts only the sales of campaigns that were paid for.
    campaigns: BTreeMap<(String, String), (i64, i64)>,
    sent: i64,
    bounced: i64,
    /// Opened pairs, with repeats until [`Acc::kpis`] sorts them.
    opens: Vec<i64>,
}

impl Acc {
    fn session(&mut self, s: &SessionFact) {
        self.sessions += 1;
        self.bounces += i64::from(s.bounced);
        self.duration += s.duration;
        self.converted += i64::from(s.purchase);
        self.cart_sessions += i64::from(s.cart);
        self.abandoned += i64::from(s.cart && !s.purchase);
        self.visitors.push(s.visitor);
    }
    fn session_group(&mut self, g: &SessionGroup) {
        self.sessions += g.sessions;
        self.bounces += g.bounces;
        self.duration += g.duration;
        self.converted += g.converted;
        self.cart_sessions += g.carts;
        self.abandoned += g.abandoned;
        self.counted_visitors += g.visitors;
    }
    /// An order, or (by product) one of its lines: the sales count each time, the order and its
    /// customer once.
    fn order(&mut self, o: &OrderFact, gross: i64) {
        self.gross += gross;
        if o.credit.source != DIRECT {
            self.credited(&o.credit, gross);
        }
        if self.seen_orders.insert(o.id) {
            self.orders += 1;
            self.discounts += o.discounts;
            self.discounted += i64::from(o.discounts > 0);
            if o.customer != NO_CUSTOMER {
                self.customers.push((o.customer, 1));
            }
            self.new_customers += i64::from(o.first_order);
        }
    }
    /// Sales credited to a campaign.
    fn credited(&mut self, c: &Credit, amount: i64) {
        self.attributed += amount;
        self.campaign(&c.source, &c.campaign).0 += amount;
    }
    fn spent(&mut self, source: &str, campaign: &str, amount: i64) {
        self.spend += amount;
        self.campaign(source, campaign).1 += amount;
    }
    fn campaign(&mut self, source: &str, campaign: &str) -> &mut (i64, i64) {
        self.campaigns
            .entry((source.to_string(), campaign.to_string()))
            .or_default()
    }
    fn line(&mut self, l: &LineFact) {
        self.units += l.quantity;
        self.returned += l.returned;
        if let Some(c) = l.cost {
            self.costed_sales += l.net;
            self.cogs += c * l.quantity;
        }
    }
    fn email(&mut self, e: &EmailFact) {
        self.sent += e.sent;
        self.bounced += e.bounced;
        self.opens.extend_from_slice(&e.opened);
    }

    /// Adds another accumulator's sums and sets to this one.
    pub fn merge(&mut self, o: &Acc) {
        self.sessions += o.sessions;
        self.bounces += o.bounces;
        self.duration += o.duration;
        self.converted += o.converted;
        self.cart_sessions += o.cart_sessions;
        self.abandoned += o.abandoned;
        self.visitors.extend_from_slice(&o.visitors);
        self.orders += o.orders;
        self.seen_orders.extend(o.seen_orders.iter().copied());
        self.gross += o.gross;
        self.discounts += o.discounts;
        self.discounted += o.discounted;
        self.refunds += o.refunds;
        self.customers.extend_from_slice(&o.customers);
        self.new_customers += o.new_customers;
        self.units += o.units;
        self.returned += o.returned;
        self.costed_sales += o.costed_sales;
        self.cogs += o.cogs;
        self.spend += o.spend;
        self.attributed += o.attributed;
        for (k, (sales, spend)) in &o.campaigns {
            let e = self.campaigns.entry(k.clone()).or_default();
            e.0 += sales;
            e.1 += spend;
        }
        self.sent += o.sent;
        self.bounced += o.bounced;
        self.opens.extend_from_slice(&o.opens);
    }

    /// The KPIs of what was accumulated (sorts the sets in place).
    pub fn kpis(&mut self) -> Kpis {
        self.visitors.sort_unstable();
        self.visitors.dedup();
        self.opens.sort_unstable();
        self.opens.dedup();
        self.customers.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(self.customers.len());
        for (c, n) in self.customers.drain(..) {
            match merged.last_mut() {
                Some(last) if last.0 == c => last.1 += n,
                _ => merged.push((c, n)),
            }
        }
        self.customers = merged;
        let orders = self.orders;
        let (visitors, customers, repeat) = self.known.unwrap_or((
            self.visitors.len() as i64 + self.counted_visitors,
            self.customers.len() as i64,
            self.customers.iter().filter(|(_, n)| *n >= 2).count() as i64,
        ));
        let new_customers = self.new_customers;
        let paid: i64 = self
            .campaigns
            .values()
            .filter(|(_, spend)| *spend != 0)
            .map(|(sales, _)| sales)
            .sum();
        let delivered = self.sent - self.bounced;
        let opens = self.opens.len() as i64;
        Kpis {
            net_sales: self.gross - self.refunds,
            gross_sales: self.gross,
            refunds: self.refunds,
            orders,
            aov: per(self.gross, orders),
            units_sold: self.units,
            sessions: self.sessions,
            unique_visitors: visitors,
            bounce_rate: ratio(self.bounces, self.sessions),
            avg_session_seconds: ratio(self.duration, self.sessions).map(|d| d / 1e6),
            conversion_rate: ratio(self.converted, self.sessions),
            cart_abandonment_rate: ratio(self.abandoned, self.cart_sessions),
            customers,
            new_customers,
            returning_customers: customers - new_customers,
            repeat_customer_rate: ratio(repeat, customers),
            ad_spend: self.spend,
            // No spend, no acquisition cost to speak of: null, not a cost of 0.
            cac: if self.spend == 0 {
                None
            } else {
                per(self.spend, new_customers)
            },
            attributed_sales: self.attributed,
            paid_attributed_sales: paid,
            unpaid_attributed_sales: self.attributed - paid,
            roas: ratio(paid, self.spend),
            emails_sent: self.sent,
            emails_delivered: delivered,
            email_unique_opens: opens,
            email_open_rate: ratio(opens, delivered),
            units_returned: self.returned,
            return_rate: ratio(self.returned, self.units),
            cogs: self.cogs,
            discounts: self.discounts,
            orders_with_discount: self.discounted,
            gross_margin: ratio(self.costed_sales - self.cogs, self.costed_sales),
        }
    }
}

/// The group a fact falls in under `dim`; `None` when the fact has no such dimension (ad spend
/// has no device, a session no product...), and it is then left out of the groups.
fn session_key(d: Dim, s: &SessionFact) -> Option<String> {
    Some(match d {
        Dim::Campaign => s.campaign.clone(),
        Dim::Source => s.source.clone(),
        Dim::Medium => s.medium.clone(),
        Dim::Device => s.device.clone(),
        Dim::Country => s.country.clone(),
        Dim::LandingPage => s.landing.clone(),
        Dim::Channel => s.channel.clone(),
        Dim::Product => return None,
    })
}

fn credit_key(d: Dim, channel: &str, c: &Credit) -> Option<String> {
    Some(match d {
        Dim::Channel => channel.to_string(),
        Dim::Campaign => c.campaign.clone(),
        Dim::Source => c.source.clone(),
        Dim::Medium => c.medium.clone(),
        Dim::Device => c.device.clone(),
        Dim::Country => c.country.clone(),
        Dim::Product | Dim::LandingPage => return None,
    })
}

fn spend_key(d: Dim, s: &SpendFact) -> Option<String> {
    Some(match d {
        Dim::Campaign => s.campaign.clone(),
        Dim::Source => s.source.clone(),
        Dim::Medium => s.medium.clone(),
        _ => return None,
    })
}

pub type Key = (Option<i32>, Option<String>);

fn slot(
    out: &mut BTreeMap<Key, Acc>,
    grain: Option<Grain>,
    dim: Option<Dim>,
    day: i32,
    group: Option<Option<String>>,
) -> Option<&mut Acc> {
    let g = match (dim, group) {
        (None, _) => None,
        (Some(_), Some(Some(k))) => Some(k),
        (Some(_), _) => return None,
    };
    Some(out.entry((grain.map(|g| g.bucket(day)), g)).or_default())
}

/// Folds facts into accumulators keyed by (bucket, group).
pub fn fold(f: &Facts, grain: Option<Grain>, dim: Option<Dim>) -> BTreeMap<Key, Acc> {
    let mut out: BTreeMap<Key, Acc> = BTreeMap::new();
    for s in &f.sessions {
        if let Some(a) = slot(&mut out, grain, dim, s.day, dim.map(|d| session_key(d, s))) {
            a.session(s);
        }
    }
    // Groups come only without a grain (the day does not matter), and count only for the
    // breakdown they were made for.
    if let Some((by, groups)) = &f.session_groups
        && dim == Some(*by)
    {
        for g in groups {
            if let Some(a) = slot(&mut out, None, dim, 0, Some(Some(g.key.clone()))) {
                a.session_group(g);
            }
        }
    }
    if dim == Some(Dim::Product) {
        for l in &f.lines {
            let o = &f.orders[l.order];
            if let Some(a) = slot(&mut out, grain, dim, o.day, Some(Some(l.sku.clone()))) {
                a.order(o, l.net);
                a.line(l);
            }
        }
    } else {
        for o in &f.orders {
            if let Some(a) = slot(
                &mut out,
                grain,
                dim,
                o.day,
                dim.map(|d| credit_key(d, &o.channel, &o.credit)),
            ) {
                a.order(o, o.merchandise);
            }
        }
        for l in &f.lines {
            let o = &f.orders[l.order];
            if let Some(a) = slot(
                &mut out,
                grain,
                dim,
                o.day,
                dim.map(|d| credit_key(d, &o.channel, &o.credit)),
            ) {
                a.line(l);
            }
        }
        for r in &f.refunds {
            if let Some(a) = slot(
                &mut out,
                grain,
                dim,
                r.day,
                dim.map(|d| credit_key(d, &r.channel, &r.credit)),
            ) {
                a.refunds += r.merchandise;
            }
        }
        for s in &f.spend {
            if let Some(a) = slot(&mut out, grain, dim, s.day, dim.map(|d| spend_key(d, s))) {
                a.spent(&s.source, &s.campaign, s.amount);
            }
        }
        for e in &f.email {
            let key = dim.map(|d| (d == Dim::Campaign).then(|| e.campaign.clone()));
            if let Some(a) = slot(&mut out, grain, dim, e.day, key) {
                a.email(e);
            }
        }
    }
    out
}

pub struct Opts {
    pub grain: Option<Grain>,
    pub dim: Option<Dim>,
    pub currency: Currency,
    pub compare: bool,
    /// With `compare`, the same dates a year earlier too (a page that does not show them, the
    /// console's home, leaves them out).
    pub last_year: bool,
}

impl Opts {
    pub fn from_query(tx: &mut dyn Sql, q: &KpiQuery) -> Result<(Period, Opts)> {
        let period = Period::parse(&q.from, &q.to)?;
        let grain = match &q.by {
            None => None,
            Some(b) => Some(
                Grain::parse(b)
                    .ok_or_else(|| Error::invalid("by", "must be day, week or month"))?,
            ),
        };
        let dim = match &q.breakdown {
            None => None,
            Some(b) => Some(Dim::parse(b).ok_or_else(|| {
                Error::invalid(
                    "breakdown",
                    "must be channel, campaign, source, medium, device, country, product or landing_page",
                )
            })?),
        };
        let currency = match &q.currency {
            Some(c) => Currency::parse(c).map_err(|e| Error::Invalid(e.under("currency")))?,
            None => settings::load(tx)?.currency,
        };
        Ok((
            period,
            Opts {
                grain,
                dim,
                currency,
                compare: q.compare.unwrap_or(true),
                last_year: true,
            },
        ))
    }
}

crate::row! {
    /// A day's order sums of one campaign (source and campaign name).
    struct OrderDay {
        day: i64,
        orders: i64,
        gross: i64,
        attributed: i64,
        units: i64,
        returned: i64,
        costed: i64,
        cogs: i64,
        new_customers: i64,
        refunds: i64,
        discounts: i64,
        discounted: i64,
        source: String,
        campaign: String,
    }
}

impl Acc {
    /// A day's order sums from the rollups.
    fn order_day(&mut self, r: &OrderDay) {
        self.orders += r.orders;
        self.gross += r.gross;
        if r.attributed != 0 {
            self.attributed += r.attributed;
            self.campaign(&r.source, &r.campaign).0 += r.attributed;
        }
        self.units += r.units;
        self.returned += r.returned;
        self.costed_sales += r.costed;
        self.cogs += r.cogs;
        self.new_customers += r.new_customers;
        self.refunds += r.refunds;
        self.discounts += r.discounts;
        self.discounted += r.discounted;
    }
}

/// The KPI report for a period. Totals, comparisons and the series come from the rollups
/// ([`fast`]); a breakdown folds the raw facts of the period.
pub fn kpis(tx: &mut dyn Sql, p: Period, o: &Opts) -> Result<KpiReport> {
    report_with(tx, p, o, true)
}

/// The same report computed from the raw facts only: what the rollups must always equal.
pub fn kpis_raw(tx: &mut dyn Sql, p: Period, o: &Opts) -> Result<KpiReport> {
    report_with(tx, p, o, false)
}

fn report_with(tx: &mut dyn Sql, p: Period, o: &Opts, rollups: bool) -> Result<KpiReport> {
    let zone = Zone::get(&settings::load(tx)?.timezone)?;
    let by_bucket = |tx: &mut dyn Sql, p: Period, grain: Option<Grain>| {
        if rollups {
            fast(tx, p, grain, o.currency)
        } else {
            Ok(fold(&load(tx, &zone, p, o.currency)?, grain, None))
        }
    };
    let totals_of = |m: &mut BTreeMap<Key, Acc>| {
        m.remove(&(None, None))
            .map(|mut a| a.kpis())
            .unwrap_or_default()
    };
    let (series, totals) = match o.grain {
        None => (Vec::new(), totals_of(&mut by_bucket(tx, p, None)?)),
        Some(g) => series_of(by_bucket(tx, p, Some(g))?, g, p),
    };
    let breakdown = match o.dim {
        None => Vec::new(),
        Some(d) => fold(
            &load_for(tx, &zone, p, o.currency, Some(d), o.grain, rollups)?,
            o.grain,
            Some(d),
        )
        .into_iter()
        .map(|((b, g), mut a)| {
            let kpis = a.kpis();
            KpiRow {
                note: (d == Dim::Channel && kpis.sessions == 0).then(|| {
                    "no sessions: storefront events belong to the store's online channel; sales made elsewhere have no traffic to measure".to_string()
                }),
                bucket: b.map(format_day),
                group: g,
                kpis,
            }
        })
        .collect(),
    };
    let overlaps = p.last_year().to > p.from;
    let mut previous_series = Vec::new();
    let (previous, last_year) = if o.compare {
        let before = p.previous();
        let previous = match o.grain {
            None => totals_of(&mut by_bucket(tx, before, None)?),
            Some(g) => {
                let (rows, totals) = series_of(by_bucket(tx, before, Some(g))?, g, before);
                previous_series = rows;
                totals
            }
        };
        (
            Some(previous),
            if overlaps || !o.last_year {
                None
            } else {
                Some(totals_of(&mut by_bucket(tx, p.last_year(), None)?))
            },
        )
    } else {
        (None, None)
    };
    let last_year_note = (o.compare && o.last_year && overlaps).then(|| {
        "no last-year comparison: the period is longer than a year, so the same dates a year earlier overlap it".to_string()
    });
    Ok(KpiReport {
        from: format_day(p.from),
        to: format_day(p.to),
        currency: o.currency.as_str().into(),
        timezone: zone.name.clone(),
        totals,
        previous,
        last_year,
        last_year_note,
        series,
        previous_series,
        breakdown,
    })
}

/// A period's rows by bucket (every bucket, empty ones too) and its totals, from one pass of
/// [`fast`] or [`fold`] by `g` (from the rollups, the totals are counted with the buckets; from
/// raw facts, all buckets merged).
fn series_of(mut by: BTreeMap<Key, Acc>, g: Grain, p: Period) -> (Vec<KpiRow>, Kpis) {
    let counted = by.remove(&(None, None));
    let mut all = Acc::default();
    let mut series = Vec::new();
    let mut day = g.bucket(p.from);
    while day < p.to {
        let kpis = match by.get_mut(&(Some(day), None)) {
            Some(a) => {
                all.merge(a);
                a.kpis()
            }
            None => Kpis::default(),
        };
        series.push(KpiRow {
            bucket: Some(format_day(day)),
            group: None,
            kpis,
            note: None,
        });
        day = next_bucket(g, day);
    }
    (series, counted.unwrap_or(all).kpis())
}

/// The accumulators of a period, per bucket (or one for the whole period), from the rollups:
/// per-day sums of sessions, orders and email, and per-day sets of visitors, customers and
/// opened pairs merged per bucket. Ad spend comes from its own table, which is small.
pub fn fast(
    tx: &mut dyn Sql,
    p: Period,
    grain: Option<Grain>,
    currency: Currency,
) -> Result<BTreeMap<Key, Acc>> {
    let (d0, d1) = (i64::from(p.from), i64::from(p.to));
    let cur = currency.as_str();
    let mut out: BTreeMap<Key, Acc> = BTreeMap::new();
    let key = |day: i64| (grain.map(|g| g.bucket(day as i32)), None);
    crate::row! {
        /// A day's session sums.
        struct SessionDay {
            day: i64,
            sessions: i64,
            bounces: i64,
            duration: i64,
            converted: i64,
            carts: i64,
            abandoned: i64,
        }
    }
    crate::row! {
        /// A day's set of visitors or of customers.
        struct DaySet { day: i64, kind: String, members: String }
    }
    crate::row! {
        /// A day's ad spend on one campaign (source and campaign name).
        struct SpendDay { day: i64, amount: i64, source: String, campaign: String }
    }
    for r in query_as::<SessionDay>(
        tx,
        "SELECT day, CAST(SUM(sessions) AS BIGINT) AS sessions, CAST(SUM(bounces) AS BIGINT) AS bounces, \
           CAST(SUM(duration) AS BIGINT) AS duration, CAST(SUM(converted) AS BIGINT) AS converted, \
           CAST(SUM(carts) AS BIGINT) AS carts, CAST(SUM(abandoned) AS BIGINT) AS abandoned \
         FROM an_session_days WHERE day >= $1 AND day < $2 GROUP BY day",
        params![d0, d1],
    )? {
        let a = out.entry(key(r.day)).or_default();
        a.sessions += r.sessions;
        a.bounces += r.bounces;
        a.duration += r.duration;
        a.converted += r.converted;
        a.cart_sessions += r.carts;
        a.abandoned += r.abandoned;
    }
    for r in query_as::<OrderDay>(
        tx,
        "SELECT day, CAST(SUM(orders) AS BIGINT) AS orders, CAST(SUM(gross) AS BIGINT) AS gross, \
           CAST(SUM(attributed) AS BIGINT) AS attributed, CAST(SUM(units) AS BIGINT) AS units, \
           CAST(SUM(returned) AS BIGINT) AS returned, CAST(SUM(costed) AS BIGINT) AS costed, CAST(SUM(cogs) AS BIGINT) AS cogs, \
           CAST(SUM(new_customers) AS BIGINT) AS new_customers, CAST(SUM(refunds) AS BIGINT) AS refunds, \
           CAST(SUM(discounts) AS BIGINT) AS discounts, CAST(SUM(discounted) AS BIGINT) AS discounted, \
           source, campaign \
         FROM an_order_days WHERE day >= $1 AND day < $2 AND currency = $3 GROUP BY day, source, campaign",
        params![d0, d1, cur],
    )? {
        out.entry(key(r.day)).or_default().order_day(&r);
    }
    let customers_kind = format!("customers:{cur}");
    // Distinct visitors and customers: the day sets, decoded once, counted per bucket and (with
    // buckets) for the whole period.
    type Members = Vec<(i64, i64)>;
    let mut sets: BTreeMap<Key, (Members, Members)> = BTreeMap::new();
    let mut whole: (Members, Members) = (Vec::new(), Vec::new());
    for r in query_as::<DaySet>(
        tx,
        "SELECT day, kind, members FROM an_day_sets WHERE day >= $1 AND day < $2 AND (kind = 'visitors' OR kind = $3)",
        params![d0, d1, customers_kind.as_str()],
    )? {
        let bucket = sets.entry(key(r.day)).or_default();
        let into = if r.kind == "visitors" {
            &mut bucket.0
        } else {
            &mut bucket.1
        };
        super::rollup::decode(&r.members, |id, n| into.push((id, n)));
    }
    for (k, (v, c)) in sets {
        // A day's set holds each member once; a longer bucket merges days.
        let count = |m: &[(i64, i64)]| {
            if grain == Some(Grain::Day) {
                (m.len() as i64, m.iter().filter(|x| x.1 >= 2).count() as i64)
            } else {
                distinct(m)
            }
        };
        let (visitors, _) = count(&v);
        let (customers, repeat) = count(&c);
        out.entry(k).or_default().known = Some((visitors, customers, repeat));
        if grain.is_some() {
            whole.0.extend(v);
            whole.1.extend(c);
        }
    }
    for r in query_as::<SpendDay>(
        tx,
        "SELECT day, CAST(SUM(amount_minor) AS BIGINT) AS amount, source, campaign FROM ad_spend \
         WHERE day >= $1 AND day < $2 AND currency = $3 GROUP BY day, source, campaign",
        params![d0, d1, cur],
    )? {
        out.entry(key(r.day))
            .or_default()
            .spent(&r.source, &r.campaign, r.amount);
    }
    for e in email_days(tx, p)? {
        out.entry(key(i64::from(e.day))).or_default().email(&e);
    }
    if grain.is_some() {
        let mut total = Acc::default();
        for a in out.values() {
            total.merge(a);
        }
        let (visitors, _) = distinct(&whole.0);
        let (customers, repeat) = distinct(&whole.1);
        total.known = Some((visitors, customers, repeat));
        out.insert((None, None), total);
    }
    Ok(out)
}

/// How many distinct ids, and how many of them with a count of 2 or more in all, over
/// `(id, count)` pairs; ids are small positive numbers (row ids), counted in bitmaps.
pub fn distinct(members: &[(i64, i64)]) -> (i64, i64) {
    let max = members.iter().map(|m| m.0).max().unwrap_or(0);
    if !(0..=(1 << 32)).contains(&max) || members.iter().any(|m| m.0 < 0) {
        // Not small numbers: sort instead.
        let mut v = members.to_vec();
        v.sort_unstable();
        let mut out = (0, 0);
        let mut i = 0;
        while i < v.len() {
            let (id, mut n) = v[i];
            i += 1;
            while i < v.len() && v[i].0 == id {
                n += v[i].1;
                i += 1;
            }
            out.0 += 1;
            out.1 += i64::from(n >= 2);
        }
        return out;
    }
    let words = max as usize / 64 + 1;
    let (mut once, mut twice) = (vec![0u64; words], vec![0u64; words]);
    for &(id, n) in members {
        let (w, b) = (id as usize / 64, 1u64 << (id as usize % 64));
        if n >= 2 || once[w] & b != 0 {
            twice[w] |= b;
        }
        once[w] |= b;
    }
    let count = |v: &[u64]| v.iter().map(|w| i64::from(w.count_ones())).sum::<i64>();
    (count(&once), count(&twice))
}

fn next_bucket(g: Grain, day: i32) -> i32 {
    match g {
        Grain::Day => day + 1,
        Grain::Week => day + 7,
        Grain::Month => Grain::Month.bucket(day + 31),
    }
}

/// The conversion funnel: sessions reaching each step, and the share lost from the step before.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct FunnelStep {
    /// `sessions`, `product_view`, `add_to_cart`, `checkout`, `purchase`.
    pub step: String,
    pub sessions: i64,
    /// Of all sessions.
    pub rate: Option<f64>,
    /// Lost since the step before: `1 - this / before`.
    pub drop_off: Option<f64>,
}

/// The funnel of a period, from the session rollups.
pub fn funnel(tx: &mut dyn Sql, p: Period) -> Result<Vec<FunnelStep>> {
    let r = tx
        .query_one(
            "SELECT CAST(COALESCE(SUM(sessions), 0) AS BIGINT) AS sessions, CAST(COALESCE(SUM(product_views), 0) AS BIGINT) AS product_views, \
               CAST(COALESCE(SUM(carts), 0) AS BIGINT) AS carts, CAST(COALESCE(SUM(checkouts), 0) AS BIGINT) AS checkouts, \
               CAST(COALESCE(SUM(converted), 0) AS BIGINT) AS converted \
             FROM an_session_days WHERE day >= $1 AND day < $2",
            params![i64::from(p.from), i64::from(p.to)],
        )?
        .map(|r| {
            ["sessions", "product_views", "carts", "checkouts", "converted"]
                .into_iter()
                .map(|step| r.get::<i64>(step))
                .collect::<std::result::Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_else(|| vec![0; 5]);
    Ok(funnel_steps(&r))
}

/// The funnel from counts of sessions reaching each step.
pub fn funnel_steps(counts: &[i64]) -> Vec<FunnelStep> {
    let names = [
        "sessions",
        "product_view",
        "add_to_cart",
        "checkout",
        "purchase",
    ];
    names
        .iter()
        .zip(counts)
        .enumerate()
        .map(|(i, (name, n))| FunnelStep {
            step: (*name).into(),
            sessions: *n,
            rate: ratio(*n, counts[0]),
            drop_off: if i == 0 {
                None
            } else {
                ratio(counts[i - 1] - n, counts[i - 1])
            },
        })
        .collect()
}

/// Customers grouped by the month of their first non-cancelled order, and the share of them who
/// ordered again in each later month.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct Cohort {
    /// `YYYY-MM`.
    pub month: String,
    pub customers: i64,
    /// Customers of the cohort with an order in month 0, 1, 2... after their first.
    pub active: Vec<i64>,
    /// `active / customers` per month.
    pub retention: Vec<Option<f64>>,
}

fn month_index(day: i32) -> i32 {
    let (y, m, _) = backroom_domain::analytics::civil_from_days(day);
    y * 12 + m as i32 - 1
}

fn month_name(index: i32) -> String {
    format!(
        "{:04}-{:02}",
        index.div_euclid(12),
        index.rem_euclid(12) + 1
    )
}

/// Cohorts whose first order falls in `[from, to)`, followed to the last order on record.
pub fn cohorts(tx: &mut dyn Sql, p: Period) -> Result<Vec<Cohort>> {
    let zone = Zone::get(&settings::load(tx)?.timezone)?;
    let mut first: HashMap<i64, i32> = HashMap::new();
    let mut months: HashMap<i64, HashSet<i32>> = HashMap::new();
    for r in tx.query(
        "SELECT o.customer_id, o.placed_at FROM orders o JOIN customers cu ON cu.id = o.customer_id \
         WHERE o.status <> 'cancelled' AND cu.guest = 0 ORDER BY o.placed_at, o.id",
        &[],
    )? {
        let m = month_index(zone.day_of(r.get("placed_at")?));
        let c: i64 = r.get("customer_id")?;
        first.entry(c).or_insert(m);
        months.entry(c).or_default().insert(m);
    }
    let (lo, hi) = (month_index(p.from), month_index(p.to - 1));
    let last = months.values().flatten().copied().max().unwrap_or(hi);
    let mut out: BTreeMap<i32, Cohort> = BTreeMap::new();
    for (c, m0) in &first {
        if *m0 < lo || *m0 > hi {
            continue;
        }
        let cohort = out.entry(*m0).or_insert_with(|| Cohort {
            month: month_name(*m0),
            customers: 0,
            active: vec![0; (last - m0 + 1).max(1) as usize],
            retention: Vec::new(),
        });
        cohort.customers += 1;
        for m in &months[c] {
            cohort.active[(m - m0) as usize] += 1;
        }
    }
    Ok(out
        .into_values()
        .map(|mut c| {
            c.retention = c.active.iter().map(|a| ratio(*a, c.customers)).collect();
            c
        })
        .collect())
}

/// A customer's historic lifetime value as one SQL expression over the customer row `c`: net
/// sales to date, the merchandise of its non-cancelled orders (subtotal less discounts, net of
/// any tax inside the prices) less the merchandise refunded. The same figure as [`clv`]'s
/// `net_sales`; the customer resource, the console profile and the customer export read it.
macro_rules! lifetime_value_sql {
    () => {
        "(SELECT CAST(COALESCE(SUM(o.subtotal_minor - o.discounts_minor - o.included_tax_minor \
           - COALESCE((SELECT SUM(r.merchandise_minor) FROM refunds r WHERE r.order_id = o.id), 0)), 0) AS BIGINT) \
          FROM orders o WHERE o.customer_id = c.id AND o.status <> 'cancelled')"
    };
}
pub(crate) use lifetime_value_sql;

#[derive(Deserialize, IntoParams, Clone, Debug, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ClvQuery {
    /// `acquisition_source` (the first order's campaign source), `cohort` (first-order month) or
    /// `channel` (the first order's channel); all customers together when absent.
    pub segment: Option<String>,
    /// How many top customers to list (default 20, at most 500).
    pub limit: Option<i64>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct CustomerValue {
    pub customer_id: i64,
    pub email: String,
    pub orders: i64,
    /// Historic CLV: net sales to date (orders' merchandise minus merchandise refunded).
    pub net_sales: i64,
    /// Net sales minus the cost of units whose variant has a unit cost.
    pub gross_margin: i64,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct ClvSegment {
    pub segment: String,
    pub customers: i64,
    pub orders: i64,
    pub net_sales: i64,
    /// `net_sales / customers`, rounded half-to-even.
    pub avg_clv: Option<i64>,
    pub avg_gross_margin: Option<i64>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct ClvReport {
    pub currency: String,
    pub segments: Vec<ClvSegment>,
    pub top_customers: Vec<CustomerValue>,
}

/// Historic customer lifetime value, per customer and per segment, in the store's currency.
pub fn clv(tx: &mut dyn Sql, q: &ClvQuery) -> Result<ClvReport> {
    let s = settings::load(tx)?;
    let zone = Zone::get(&s.timezone)?;
    let segment = q.segment.as_deref().unwrap_or("all");
    if !["all", "acquisition_source", "cohort", "channel"].contains(&segment) {
        return Err(Error::invalid(
            "segment",
            "must be acquisition_source, cohort or channel",
        ));
    }
    let limit = q.limit.unwrap_or(20);
    if !(0..=500).contains(&limit) {
        return Err(Error::invalid("limit", "must be between 0 and 500"));
    }
    let cur = s.currency.as_str();
    struct C {
        email: String,
        orders: i64,
        net: i64,
        margin: i64,
        segment: Option<String>,
    }
    crate::row! {
        /// An order of a customer: its net sales and the cost of its units that have one.
        struct ClvRow {
            customer_id: i64,
            email: String,
            placed_at: i64,
            channel: String,
            source: Option<String>,
            net: i64,
            cogs: i64,
        }
    }
    let mut customers: BTreeMap<i64, C> = BTreeMap::new();
    for r in query_as::<ClvRow>(
        tx,
        &format!(
            "SELECT o.customer_id AS customer_id, cu.email AS email, o.placed_at AS placed_at, ch.name AS channel, p.source AS source, \
               o.subtotal_minor - o.discounts_minor - o.included_tax_minor - CAST(COALESCE((SELECT SUM(r.merchandise_minor) FROM refunds r WHERE r.order_id = o.id), 0) AS BIGINT) AS net, \
               CAST(COALESCE((SELECT SUM(l.quantity * v.cost_minor) FROM order_lines l JOIN variants v ON v.id = l.variant_id WHERE l.order_id = o.id AND v.cost_minor IS NOT NULL), 0) AS BIGINT) AS cogs \
             FROM orders o JOIN customers cu ON cu.id = o.customer_id JOIN channels ch ON ch.id = o.channel_id {ORDER_CREDIT} \
             WHERE o.status <> 'cancelled' AND o.currency = $1 AND cu.guest = 0 ORDER BY o.placed_at, o.id"
        ),
        params![cur],
    )? {
        let c = customers.entry(r.customer_id).or_insert_with(|| C {
            email: r.email.clone(),
            orders: 0,
            net: 0,
            margin: 0,
            segment: match segment {
                "acquisition_source" => Some(r.source.clone().unwrap_or_else(|| DIRECT.into())),
                "cohort" => Some(month_name(month_index(zone.day_of(r.placed_at)))),
                "channel" => Some(r.channel.clone()),
                _ => None,
            },
        });
        c.orders += 1;
        c.net += r.net;
        c.margin += r.net - r.cogs;
    }
    let mut segments: BTreeMap<String, (i64, i64, i64, i64)> = BTreeMap::new();
    for c in customers.values() {
        let e = segments
            .entry(c.segment.clone().unwrap_or_else(|| "all".into()))
            .or_default();
        e.0 += 1;
        e.1 += c.orders;
        e.2 += c.net;
        e.3 += c.margin;
    }
    let mut top: Vec<CustomerValue> = customers
        .into_iter()
        .map(|(id, c)| CustomerValue {
            customer_id: id,
            email: c.email,
            orders: c.orders,
            net_sales: c.net,
            gross_margin: c.margin,
        })
        .collect();
    top.sort_by(|a, b| {
        b.net_sales
            .cmp(&a.net_sales)
            .then(a.customer_id.cmp(&b.customer_id))
    });
    top.truncate(limit as usize);
    Ok(ClvReport {
        currency: cur.into(),
        segments: segments
            .into_iter()
            .map(|(segment, (n, orders, net, margin))| ClvSegment {
                segment,
                customers: n,
                orders,
                net_sales: net,
                avg_clv: per(net, n),
                avg_gross_margin: per(margin, n),
            })
            .collect(),
        top_customers: top,
    })
}

/// Disparities between what the storefront reported and what Backroom recorded.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq, Default)]
pub struct Reconciliation {
    pub from: String,
    pub to: String,
    /// One line per check, what it found, discrepancies first.
    pub summary: Vec<String>,
    /// Whether the storefront sent events in the period. Without any, the storefront is not
    /// tracked then (say, a history imported without its events): orders without a session,
    /// days without events and spend without traffic are expected, not discrepancies.
    pub tracked: bool,
    /// Purchase events in the period whose order number matches no order.
    pub purchases_without_order: Vec<i64>,
    /// Non-cancelled orders placed in the period on online channels (imported history left
    /// out) with no purchase event.
    pub orders_without_session: Vec<i64>,
    /// Campaigns with ad spend in the period and no session.
    pub spend_without_traffic: Vec<String>,
    /// Local days of the period on which no session started.
    pub days_without_events: Vec<String>,
    /// How many of the findings are discrepancies: all of them when the storefront is
    /// tracked, only purchases without an order when it is not.
    pub discrepancies: i64,
    /// No discrepancy.
    pub clean: bool,
}

pub fn reconciliation(tx: &mut dyn Sql, p: Period) -> Result<Reconciliation> {
    let zone = Zone::get(&settings::load(tx)?.timezone)?;
    let (t0, t1) = (zone.start_of(p.from), zone.start_of(p.to));
    let (d0, d1) = (i64::from(p.from), i64::from(p.to));
    // The one column of each row, by name.
    fn column<T: crate::db::FromVal>(
        rows: Vec<Row>,
        name: &str,
    ) -> std::result::Result<Vec<T>, DbError> {
        rows.iter().map(|r| r.get(name)).collect()
    }
    let purchases_without_order: Vec<i64> = column(
        tx.query(
            "SELECT DISTINCT p.order_number FROM an_purchases p WHERE p.ts >= $1 AND p.ts < $2 AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.number = p.order_number) ORDER BY p.order_number",
            params![t0, t1],
        )?,
        "order_number",
    )?;
    let orders_without_session: Vec<i64> = column(
        tx.query(
            "SELECT o.number FROM orders o JOIN channels c ON c.id = o.channel_id WHERE o.placed_at >= $1 AND o.placed_at < $2 AND o.status <> 'cancelled' AND c.kind = 'online' \
             AND o.sourcing_strategy <> 'imported' \
             AND NOT EXISTS (SELECT 1 FROM an_purchases p WHERE p.order_number = o.number) ORDER BY o.number",
            params![t0, t1],
        )?,
        "number",
    )?;
    let spend_without_traffic: Vec<String> = column(
        tx.query(
            "SELECT DISTINCT s.campaign FROM ad_spend s WHERE s.day >= $1 AND s.day < $2 AND s.amount_minor > 0 \
             AND NOT EXISTS (SELECT 1 FROM an_sessions x WHERE x.campaign = s.campaign AND x.day >= $1 AND x.day < $2) ORDER BY s.campaign",
            params![d0, d1],
        )?,
        "campaign",
    )?;
    let seen: HashSet<i64> = column(
        tx.query(
            "SELECT DISTINCT day FROM an_sessions WHERE day >= $1 AND day < $2",
            params![d0, d1],
        )?,
        "day",
    )?
    .into_iter()
    .collect();
    let days_without_events: Vec<String> = (p.from..p.to)
        .filter(|d| !seen.contains(&i64::from(*d)))
        .map(format_day)
        .collect();
    let tracked = !seen.is_empty()
        || tx
            .query_one(
                "SELECT 1 FROM an_purchases p WHERE p.ts >= $1 AND p.ts < $2 LIMIT 1",
                params![t0, t1],
            )?
            .is_some();
    let mut counts = [
        (
            purchases_without_order.len(),
            true,
            "purchase events with no order",
        ),
        (
            orders_without_session.len(),
            tracked,
            "online orders with no purchase event",
        ),
        (
            spend_without_traffic.len(),
            tracked,
            "campaigns with ad spend and no session",
        ),
        (
            days_without_events.len(),
            tracked,
            "days with no storefront event",
        ),
    ];
    let discrepancies: usize = counts.iter().filter(|c| c.1).map(|c| c.0).sum();
    // Discrepancies first (a stable sort keeps the checks' order otherwise).
    counts.sort_by_key(|(n, real, _)| !(*n > 0 && *real));
    let mut summary: Vec<String> = counts
        .iter()
        .map(|(n, real, what)| {
            let tag = match (n, real) {
                (0, _) => "ok",
                (_, true) => "DISCREPANCY",
                (_, false) => "expected",
            };
            format!("{tag}: {n} {what}")
        })
        .collect();
    if !tracked {
        summary.push(
            "the storefront sent no event in the period, so sessions cannot be compared with orders (only purchases without an order count)".into(),
        );
    }
    Ok(Reconciliation {
        from: format_day(p.from),
        to: format_day(p.to),
        summary,
        tracked,
        purchases_without_order,
        orders_without_session,
        spend_without_traffic,
        days_without_events,
        discrepancies: discrepancies as i64,
        clean: discrepancies == 0,
    })
}

/// Sell-through and days of cover per SKU.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct StockKpi {
    pub sku: String,
    /// Units of non-cancelled orders placed in the period.
    pub units_sold: i64,
    /// On hand across locations at the end of the period (from the ledger).
    pub on_hand_at_end: i64,
    /// `units_sold / (units_sold + on_hand_at_end)`.
    pub sell_through: Option<f64>,
    /// Available now across locations.
    pub available: i64,
    /// Units sold over the 28 days before now.
    pub sold_last_28_days: i64,
    /// `available / (sold_last_28_days / 28)`; null when nothing sold.
    pub days_of_cover: Option<f64>,
}

pub fn stock_kpis(tx: &mut dyn Sql, p: Period, now: i64) -> Result<Vec<StockKpi>> {
    let zone = Zone::get(&settings::load(tx)?.timezone)?;
    let (t0, t1) = (zone.start_of(p.from), zone.start_of(p.to));
    let since = now - 28 * backroom_domain::analytics::DAY_MICROS;
    crate::row! {
        /// A SKU's units sold in the period and in the last 28 days, on hand at the period's
        /// end, and available now.
        struct StockRow {
            sku: String,
            units_sold: i64,
            on_hand_at_end: i64,
            available: i64,
            sold_recently: i64,
        }
    }
    let rows: Vec<StockRow> = query_as(
        tx,
        "SELECT v.sku AS sku, COALESCE(s.period, 0) AS units_sold, \
           CAST(COALESCE((SELECT SUM(g.on_hand_delta) FROM inventory_ledger g WHERE g.variant_id = v.id AND g.created_at < $2), 0) AS BIGINT) AS on_hand_at_end, \
           CAST(COALESCE((SELECT SUM(i.on_hand - i.reserved - i.unavailable) FROM inventory_levels i WHERE i.variant_id = v.id), 0) AS BIGINT) AS available, \
           COALESCE(s.recent, 0) AS sold_recently \
         FROM variants v \
         LEFT JOIN (SELECT l.variant_id, \
                      CAST(SUM(CASE WHEN o.placed_at >= $1 AND o.placed_at < $2 THEN l.quantity ELSE 0 END) AS BIGINT) AS period, \
                      CAST(SUM(CASE WHEN o.placed_at >= $3 AND o.placed_at < $4 THEN l.quantity ELSE 0 END) AS BIGINT) AS recent \
                    FROM orders o JOIN order_lines l ON l.order_id = o.id \
                    WHERE o.status <> 'cancelled' AND ((o.placed_at >= $1 AND o.placed_at < $2) OR (o.placed_at >= $3 AND o.placed_at < $4)) \
                    GROUP BY l.variant_id) s ON s.variant_id = v.id \
         ORDER BY v.sku",
        params![t0, t1, since, now],
    )?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let (sold, end, available, recent) =
                (r.units_sold, r.on_hand_at_end, r.available, r.sold_recently);
            StockKpi {
                sku: r.sku,
                units_sold: sold,
                on_hand_at_end: end,
                sell_through: ratio(sold, sold + end),
                available,
                sold_last_28_days: recent,
                days_of_cover: (recent > 0).then(|| available as f64 * 28.0 / recent as f64),
            }
        })
        .collect())
}

#[derive(Deserialize, IntoParams, Clone, Debug, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PeriodQuery {
    /// First local day, `YYYY-MM-DD`.
    pub from: String,
    /// Day after the last, `YYYY-MM-DD`.
    pub to: String,
}

impl PeriodQuery {
    pub fn period(&self) -> Result<Period> {
        Period::parse(&self.from, &self.to)
    }
}

#[derive(Deserialize, IntoParams, Clone, Debug, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TopQuery {
    pub from: String,
    pub to: String,
    /// `product` (by net sales) or `campaign` (by ROAS, then attributed sales).
    pub by: String,
    /// At most this many rows (default 10, at most 500).
    pub limit: Option<i64>,
}

/// Top products by net sales, or top campaigns by return on ad spend.
pub fn top(tx: &mut dyn Sql, q: &TopQuery) -> Result<Vec<KpiRow>> {
    let p = Period::parse(&q.from, &q.to)?;
    let dim = match q.by.as_str() {
        "product" => Dim::Product,
        "campaign" => Dim::Campaign,
        _ => return Err(Error::invalid("by", "must be product or campaign")),
    };
    let limit = top_limit(q.limit)?;
    let s = settings::load(tx)?;
    let zone = Zone::get(&s.timezone)?;
    let facts = load_for(tx, &zone, p, s.currency, Some(dim), None, true)?;
    Ok(top_of(&facts, dim, limit))
}

/// Top products and top campaigns of a period from one read of its facts (those of a campaign
/// breakdown hold those of a product one).
pub fn top_products_and_campaigns(
    tx: &mut dyn Sql,
    from: &str,
    to: &str,
    limit: Option<i64>,
) -> Result<(Vec<KpiRow>, Vec<KpiRow>)> {
    let p = Period::parse(from, to)?;
    let limit = top_limit(limit)?;
    let s = settings::load(tx)?;
    let zone = Zone::get(&s.timezone)?;
    let facts = load_for(tx, &zone, p, s.currency, Some(Dim::Campaign), None, true)?;
    Ok((
        top_of(&facts, Dim::Product, limit),
        top_of(&facts, Dim::Campaign, limit),
    ))
}

fn top_limit(limit: Option<i64>) -> Result<usize> {
    let limit = limit.unwrap_or(10);
    if !(1..=500).contains(&limit) {
        return Err(Error::invalid("limit", "must be between 1 and 500"));
    }
    Ok(limit as usize)
}

fn top_of(facts: &Facts, dim: Dim, limit: usize) -> Vec<KpiRow> {
    let mut rows: Vec<KpiRow> = fold(facts, None, Some(dim))
        .into_iter()
        .map(|((_, g), mut a)| KpiRow {
            bucket: None,
            group: g,
            kpis: a.kpis(),
            note: None,
        })
        .collect();
    match dim {
        Dim::Product => rows.sort_by_key(|r| std::cmp::Reverse(r.kpis.net_sales)),
        _ => rows.sort_by(|a, b| {
            let r = |k: &Kpis| k.roas.unwrap_or(-1.0);
            r(&b.kpis)
                .total_cmp(&r(&a.kpis))
                .then(b.kpis.attributed_sales.cmp(&a.kpis.attributed_sales))
        }),
    }
    rows.truncate(limit);
    rows
}
