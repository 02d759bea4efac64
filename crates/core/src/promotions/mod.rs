//! Promotions and discount codes: what a promotion gives (a percentage or a fixed amount off the
//! order or its eligible lines, tiers, buy X get Y, free shipping), when and to whom (window,
//! channels, products, customers, limits), whether it combines, and how it is triggered (a code,
//! a batch of single-use codes, or automatically). Definitions live here; placement asks
//! [`apply`] what an order gets and claims the limits in its transaction ([`apply::plan`]); codes
//! are generated, exported and imported by [`codes`]. Rules: [`backroom_domain::promotions`].

pub mod apply;
pub mod codes;

use crate::db::{Sql, Val, query_as, query_one_as};
use crate::util::{from_json, opt_rfc3339, rfc3339, to_json};
use crate::{Ctx, Error, Result, audit, params};
use backroom_domain::promotions::engine::{BuyXGetY, Conditions, Tier};
use backroom_domain::promotions::{self as rules, Kind, Target};
use backroom_domain::roles::Permission;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// Who a promotion is for and which lines it concerns; what is left out is no condition.
#[derive(Deserialize, Serialize, ToSchema, Clone, Debug, Default, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PromotionConditions {
    /// Channel codes (`web`, `pos`).
    pub channels: Vec<String>,
    /// Minor units the eligible lines must reach at full price.
    pub min_subtotal: Option<i64>,
    /// Units of eligible lines.
    pub min_quantity: Option<i64>,
    /// Product handles.
    pub products: Vec<String>,
    /// Variant SKUs.
    pub variants: Vec<String>,
    pub product_types: Vec<String>,
    pub vendors: Vec<String>,
    /// Product tags.
    pub tags: Vec<String>,
    /// Only a customer's first order.
    pub new_customers_only: bool,
    /// The customer carries one of these tags.
    pub customer_tags: Vec<String>,
}

/// A step of a tiered promotion: from `min_subtotal` (minor units of eligible lines), `value`.
#[derive(Deserialize, Serialize, ToSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PromotionTier {
    pub min_subtotal: i64,
    /// A percentage (`"10"`) or minor units, as the promotion's kind says.
    pub value: String,
}

/// Buy `buy_quantity` eligible units, get `get_quantity` units at the promotion's `value`
/// percentage off (`"100"`, the default: free); the cheapest eligible units, or the cheapest of
/// the named ones.
#[derive(Deserialize, Serialize, ToSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PromotionBuyXGetY {
    pub buy_quantity: i64,
    pub get_quantity: i64,
    /// SKUs given.
    #[serde(default)]
    pub get_variants: Vec<String>,
    /// Product handles given.
    #[serde(default)]
    pub get_products: Vec<String>,
    /// How many times one order may use it.
    #[serde(default)]
    pub max_per_order: Option<i64>,
}

/// A new promotion.
#[derive(Deserialize, Serialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewPromotion {
    pub name: String,
    /// `percentage`, `fixed_amount`, `free_shipping` or `buy_x_get_y`.
    pub kind: String,
    /// A percentage as a decimal string (`"10"`), or minor units for a fixed amount (`"500"`);
    /// for buy X get Y, the percentage off what is given (default `"100"`, free). Tiered
    /// promotions give their values in `tiers` instead.
    pub value: Option<String>,
    /// `order` (the default: off every line) or `lines` (off the eligible lines only).
    pub applies_to: Option<String>,
    /// A code a customer enters; matched without case. Batches are added with
    /// `POST /promotions/{id}/codes`.
    pub code: Option<String>,
    /// Applied to every order that qualifies, with no code.
    pub automatic: Option<bool>,
    /// Whether it stacks with other promotions that combine (default: it applies alone).
    pub combines: Option<bool>,
    pub conditions: Option<PromotionConditions>,
    pub tiers: Option<Vec<PromotionTier>>,
    pub buy_x_get_y: Option<PromotionBuyXGetY>,
    /// The UTM campaign it belongs to (its budget caps it).
    pub campaign: Option<String>,
    /// Redemptions in all.
    pub usage_limit: Option<i64>,
    pub usage_limit_per_customer: Option<i64>,
    /// RFC 3339, or a date or local time in the store's zone.
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
}

/// A change to a promotion: switch it off or on, rename it, move its end.
#[derive(Deserialize, Serialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct PromotionPatch {
    pub name: Option<String>,
    pub active: Option<bool>,
    /// RFC 3339, a date or local time in the store's zone; `""` removes the end.
    pub ends_at: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct Promotion {
    pub id: i64,
    pub name: String,
    pub kind: String,
    /// As given: a percentage, or minor units.
    pub value: Option<String>,
    pub applies_to: String,
    /// The promotion's first code, when it has codes.
    pub code: Option<String>,
    /// How many codes it has.
    pub codes: i64,
    pub automatic: bool,
    pub combines: bool,
    pub conditions: PromotionConditions,
    pub tiers: Vec<PromotionTier>,
    pub buy_x_get_y: Option<PromotionBuyXGetY>,
    pub campaign: Option<String>,
    pub usage_limit: Option<i64>,
    pub usage_limit_per_customer: Option<i64>,
    /// Redemptions by orders not cancelled.
    pub times_used: i64,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub active: bool,
    pub created_at: String,
}

crate::row! {
    pub(crate) struct PromotionRow {
        id: i64,
        name: String,
        kind: String,
        target: String,
        percent_ppm: i64,
        amount_minor: i64,
        automatic: bool,
        combines: bool,
        conditions: String,
        tiers: String,
        buy_x_get_y: Option<String>,
        campaign: Option<String>,
        usage_limit: Option<i64>,
        usage_limit_per_customer: Option<i64>,
        starts_at: Option<i64>,
        ends_at: Option<i64>,
        active: bool,
        created_at: i64,
    }
}

pub(crate) const COLUMNS: &str = "id, name, kind, target, percent_ppm, amount_minor, automatic, combines, conditions, tiers, buy_x_get_y, campaign, usage_limit, usage_limit_per_customer, starts_at, ends_at, active, created_at";

/// A percentage in millionths, written back as given (`"12.5"`).
fn percent_text(ppm: i64) -> String {
    let (whole, frac) = (ppm / 10_000, ppm % 10_000);
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{}", format!("{frac:04}").trim_end_matches('0'))
    }
}

fn value_text(kind: Kind, percent_ppm: i64, amount: i64, tiered: bool) -> Option<String> {
    match kind {
        _ if tiered => None,
        Kind::Percentage | Kind::BuyXGetY => Some(percent_text(percent_ppm)),
        Kind::FixedAmount => Some(amount.to_string()),
        Kind::FreeShipping => None,
    }
}

impl PromotionRow {
    pub(crate) fn kind(&self) -> Kind {
        Kind::parse(&self.kind).unwrap_or(Kind::FreeShipping)
    }

    /// The promotion as the engine sees it.
    pub(crate) fn rule(&self) -> rules::engine::Rule {
        let kind = self.kind();
        rules::engine::Rule {
            id: self.id,
            kind,
            target: Target::parse(&self.target).unwrap_or(Target::Order),
            percent_ppm: u32::try_from(self.percent_ppm).unwrap_or(0),
            amount: self.amount_minor,
            tiers: from_json(&self.tiers),
            buy_x_get_y: self
                .buy_x_get_y
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok()),
            conditions: from_json(&self.conditions),
            combines: self.combines,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
        }
    }
}

/// Writes a time as given in the store's zone when it names no offset.
fn parse_local(tx: &mut dyn Sql, field: &str, s: &str) -> Result<i64> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t.as_microsecond());
    }
    let zone = crate::settings::load(tx)?.timezone;
    let tz = jiff::tz::TimeZone::get(&zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let civil = s.parse::<jiff::civil::DateTime>().or_else(|_| {
        s.parse::<jiff::civil::Date>()
            .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
    });
    civil
        .ok()
        .and_then(|c| c.to_zoned(tz).ok())
        .map(|z| z.timestamp().as_microsecond())
        .ok_or_else(|| {
            Error::invalid(
                field,
                "must be a time like 2026-11-23T10:00:00Z, or a date or local time in the store's zone like 2026-11-23 or 2026-11-23T09:00",
            )
        })
}

fn limit(field: &str, v: Option<i64>) -> Result<Option<i64>> {
    match v {
        Some(n) if n < 1 => Err(Error::invalid(field, "must be at least 1")),
        other => Ok(other),
    }
}

fn amount_value(field: &str, v: &str) -> Result<i64> {
    match v.trim().parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Error::invalid(
            field,
            "must be an amount in minor units above 0, such as \"500\"",
        )),
    }
}

/// The value a kind takes (`(percent in millionths, amount)`), from `value` and `tiers`.
fn values(
    kind: Kind,
    value: Option<&str>,
    tiers: &[PromotionTier],
) -> Result<(u32, i64, Vec<Tier>)> {
    let tiered = !tiers.is_empty();
    if tiered && !matches!(kind, Kind::Percentage | Kind::FixedAmount) {
        return Err(Error::invalid(
            "tiers",
            "only percentage and fixed_amount promotions have tiers",
        ));
    }
    if tiered && value.is_some() {
        return Err(Error::invalid(
            "value",
            "a tiered promotion gives its values in tiers",
        ));
    }
    let mut steps = Vec::with_capacity(tiers.len());
    for (i, t) in tiers.iter().enumerate() {
        if t.min_subtotal < 0 {
            return Err(Error::invalid(
                format!("tiers[{i}].min_subtotal"),
                "must be 0 or more",
            ));
        }
        if steps
            .iter()
            .any(|s: &Tier| s.min_subtotal == t.min_subtotal)
        {
            return Err(Error::invalid(
                format!("tiers[{i}].min_subtotal"),
                "two tiers start at the same subtotal",
            ));
        }
        let f = format!("tiers[{i}].value");
        let value = match kind {
            Kind::Percentage => i64::from(rules::parse_percentage(&f, &t.value)?),
            _ => amount_value(&f, &t.value)?,
        };
        steps.push(Tier {
            min_subtotal: t.min_subtotal,
            value,
        });
    }
    if steps.len() > 20 {
        return Err(Error::invalid("tiers", "at most 20 tiers"));
    }
    Ok(match (kind, value) {
        (_, None) if tiered => (0, 0, steps),
        (Kind::Percentage, Some(v)) => (rules::parse_percentage("value", v)?, 0, steps),
        (Kind::BuyXGetY, Some(v)) => (rules::parse_percentage("value", v)?, 0, steps),
        (Kind::BuyXGetY, None) => (1_000_000, 0, steps),
        (Kind::FixedAmount, Some(v)) => (0, amount_value("value", v)?, steps),
        (Kind::FreeShipping, None) => (0, 0, steps),
        (Kind::FreeShipping, Some(_)) => {
            return Err(Error::invalid("value", "free shipping takes no value"));
        }
        (_, None) => return Err(Error::invalid("value", "is required for this kind")),
    })
}

/// Checks a code's form: 1 to 64 letters, digits, `-` or `_`.
pub(crate) fn check_code(field: &str, c: &str) -> Result<String> {
    let c = c.trim();
    if c.is_empty()
        || c.len() > 64
        || !c
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
    {
        return Err(Error::invalid(
            field,
            "must be 1 to 64 letters, digits, - or _",
        ));
    }
    Ok(c.to_string())
}

fn text_list(field: &str, items: &[String]) -> Result<Vec<String>> {
    crate::catalog::check_list(field, items, 200)
}

/// The conditions in the engine's form: handles and SKUs become ids (each must exist).
fn conditions_of(tx: &mut dyn Sql, c: &PromotionConditions) -> Result<Conditions> {
    let mut products = Vec::with_capacity(c.products.len());
    for (i, h) in c.products.iter().enumerate() {
        products.push(
            crate::catalog::product_id_by_handle(tx, h.trim())?.ok_or_else(|| {
                Error::invalid(
                    format!("conditions.products[{i}]"),
                    format!("no product has the handle {h}"),
                )
            })?,
        );
    }
    let variants = variant_ids(tx, "conditions.variants", &c.variants)?;
    let channels = text_list("conditions.channels", &c.channels)?;
    for (i, ch) in channels.iter().enumerate() {
        if crate::catalog::channel_id(tx, ch)?.is_none() {
            return Err(Error::invalid(
                format!("conditions.channels[{i}]"),
                format!("no channel has the code {ch}"),
            ));
        }
    }
    for (f, v) in [
        ("min_subtotal", c.min_subtotal),
        ("min_quantity", c.min_quantity),
    ] {
        if v.is_some_and(|v| v < 1) {
            return Err(Error::invalid(
                format!("conditions.{f}"),
                "must be at least 1",
            ));
        }
    }
    Ok(Conditions {
        channels,
        min_subtotal: c.min_subtotal,
        min_quantity: c.min_quantity,
        products,
        variants,
        product_types: text_list("conditions.product_types", &c.product_types)?,
        vendors: text_list("conditions.vendors", &c.vendors)?,
        tags: text_list("conditions.tags", &c.tags)?,
        new_customers_only: c.new_customers_only,
        customer_tags: text_list("conditions.customer_tags", &c.customer_tags)?,
    })
}

fn variant_ids(tx: &mut dyn Sql, field: &str, skus: &[String]) -> Result<Vec<i64>> {
    let found = crate::catalog::variant_ids_by_sku(tx, skus)?;
    skus.iter()
        .enumerate()
        .map(|(i, s)| {
            found.get(s.trim()).copied().ok_or_else(|| {
                Error::invalid(format!("{field}[{i}]"), format!("no variant has SKU {s}"))
            })
        })
        .collect()
}

fn buy_x_get_y_of(
    tx: &mut dyn Sql,
    kind: Kind,
    b: Option<&PromotionBuyXGetY>,
    percent: u32,
) -> Result<Option<BuyXGetY>> {
    let Some(b) = b else {
        return match kind {
            Kind::BuyXGetY => Err(Error::invalid(
                "buy_x_get_y",
                "is required for a buy_x_get_y promotion",
            )),
            _ => Ok(None),
        };
    };
    if kind != Kind::BuyXGetY {
        return Err(Error::invalid(
            "buy_x_get_y",
            "only for a buy_x_get_y promotion",
        ));
    }
    for (f, v) in [
        ("buy_quantity", Some(b.buy_quantity)),
        ("get_quantity", Some(b.get_quantity)),
        ("max_per_order", b.max_per_order),
    ] {
        if v.is_some_and(|v| !(1..=1000).contains(&v)) {
            return Err(Error::invalid(
                format!("buy_x_get_y.{f}"),
                "must be 1 to 1000",
            ));
        }
    }
    let mut get_products = Vec::new();
    for (i, h) in b.get_products.iter().enumerate() {
        get_products.push(
            crate::catalog::product_id_by_handle(tx, h.trim())?.ok_or_else(|| {
                Error::invalid(
                    format!("buy_x_get_y.get_products[{i}]"),
                    format!("no product has the handle {h}"),
                )
            })?,
        );
    }
    Ok(Some(BuyXGetY {
        buy_quantity: b.buy_quantity,
        get_quantity: b.get_quantity,
        get_percent_ppm: percent,
        get_variants: variant_ids(tx, "buy_x_get_y.get_variants", &b.get_variants)?,
        get_products,
        max_per_order: b.max_per_order,
    }))
}

/// Says that promotion definitions changed, so every server reloads its cached rules.
pub(crate) fn bump_generation(tx: &mut dyn Sql) -> Result<()> {
    tx.exec(
        "UPDATE promotion_generation SET stamp = $1 WHERE id = 1",
        params![crate::util::random_hex(16)],
    )?;
    Ok(())
}

/// A new promotion, checked, in the engine's form.
struct Draft {
    name: String,
    kind: Kind,
    target: Target,
    percent: u32,
    amount: i64,
    tiers: Vec<Tier>,
    buy_x_get_y: Option<BuyXGetY>,
    conditions: Conditions,
    automatic: bool,
    combines: bool,
    code: Option<String>,
    campaign: Option<String>,
    usage_limit: Option<i64>,
    per_customer: Option<i64>,
    starts: Option<i64>,
    ends: Option<i64>,
}

impl Draft {
    fn rule(&self, id: i64) -> rules::engine::Rule {
        rules::engine::Rule {
            id,
            kind: self.kind,
            target: self.target,
            percent_ppm: self.percent,
            amount: self.amount,
            tiers: self.tiers.clone(),
            buy_x_get_y: self.buy_x_get_y.clone(),
            conditions: self.conditions.clone(),
            combines: self.combines,
            starts_at: self.starts,
            ends_at: self.ends,
        }
    }
}

/// Checks a new promotion and puts it in the engine's form (handles and SKUs become ids).
fn draft(tx: &mut dyn Sql, p: &NewPromotion) -> Result<Draft> {
    let name = backroom_domain::values::required_text("name", &p.name, 200)?;
    let kind = Kind::parse_field(&p.kind)?;
    let value = p.value.as_deref().map(str::trim).filter(|v| !v.is_empty());
    let (percent, amount, tiers) = values(kind, value, p.tiers.as_deref().unwrap_or_default())?;
    let target = match p.applies_to.as_deref().map(str::trim) {
        None | Some("") => Target::Order,
        Some(t) => Target::parse(t)
            .ok_or_else(|| Error::invalid("applies_to", "must be order or lines"))?,
    };
    let code = p
        .code
        .as_deref()
        .filter(|c| !c.trim().is_empty())
        .map(|c| check_code("code", c))
        .transpose()?;
    let automatic = p.automatic.unwrap_or(false);
    if automatic && code.is_some() {
        return Err(Error::invalid(
            "code",
            "an automatic promotion applies without a code",
        ));
    }
    let conditions = conditions_of(tx, &p.conditions.clone().unwrap_or_default())?;
    if target == Target::Lines && !conditions.names_products() {
        return Err(Error::invalid(
            "applies_to",
            "lines needs conditions naming products, variants, types, vendors or tags",
        ));
    }
    let buy_x_get_y = buy_x_get_y_of(tx, kind, p.buy_x_get_y.as_ref(), percent)?;
    let starts = p
        .starts_at
        .as_deref()
        .map(|s| parse_local(tx, "starts_at", s))
        .transpose()?;
    let ends = p
        .ends_at
        .as_deref()
        .map(|s| parse_local(tx, "ends_at", s))
        .transpose()?;
    if let (Some(s), Some(e)) = (starts, ends)
        && e <= s
    {
        return Err(Error::invalid("ends_at", "must be after starts_at"));
    }
    Ok(Draft {
        name,
        kind,
        target,
        percent,
        amount,
        tiers,
        buy_x_get_y,
        conditions,
        automatic,
        combines: p.combines.unwrap_or(false),
        code,
        campaign: backroom_domain::values::optional_text("campaign", p.campaign.as_deref(), 200)?,
        usage_limit: limit("usage_limit", p.usage_limit)?,
        per_customer: limit("usage_limit_per_customer", p.usage_limit_per_customer)?,
        starts,
        ends,
    })
}

/// Creates a promotion (marketing's, operations' or an admin's).
pub fn create(tx: &mut dyn Sql, ctx: &Ctx, p: &NewPromotion) -> Result<Promotion> {
    ctx.actor.require(Permission::MarketingWrite)?;
    let d = draft(tx, p)?;
    let id: i64 = tx
        .query_one(
            "INSERT INTO promotions (name, kind, target, percent_ppm, amount_minor, automatic, combines, conditions, tiers, buy_x_get_y, campaign, usage_limit, usage_limit_per_customer, starts_at, ends_at, active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, TRUE, $16, $16) RETURNING id",
            params![
                d.name.as_str(),
                d.kind.as_str(),
                d.target.as_str(),
                i64::from(d.percent),
                d.amount,
                d.automatic,
                d.combines,
                to_json(&d.conditions),
                to_json(&d.tiers),
                d.buy_x_get_y.as_ref().map(to_json),
                d.campaign.as_deref(),
                d.usage_limit,
                d.per_customer,
                d.starts,
                d.ends,
                ctx.now
            ],
        )?
        .map(|r| r.get::<i64>("id"))
        .transpose()?
        .unwrap_or(0);
    if let Some(c) = &d.code {
        codes::insert_code(tx, id, c, None, None, ctx.now)?.ok_or_else(|| codes::taken(c))?;
    }
    bump_generation(tx)?;
    audit::record(
        tx,
        ctx,
        "promotion.created",
        "promotion",
        id,
        json!({"name": d.name, "kind": d.kind.as_str(), "code": d.code, "automatic": d.automatic}),
    )?;
    get(tx, id)
}

/// A sample cart for [`preview`].
#[derive(Deserialize, Serialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// The promotion as it would be created.
    pub promotion: NewPromotion,
    pub lines: Vec<crate::api::SkuQuantity>,
    /// The channel's code (default: the promotion's first channel, else `online`).
    pub channel: Option<String>,
    /// Whether the buyer has no order yet (default true).
    pub new_customer: Option<bool>,
    pub customer_tags: Option<Vec<String>>,
    /// What shipping would cost, in minor units (default 0).
    pub shipping: Option<i64>,
}

/// What the sample cart would get from the promotion alone.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct Preview {
    pub applies: bool,
    /// Why not, when it does not apply.
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    pub subtotal: crate::api::Money,
    pub discount: crate::api::Money,
    pub shipping_discount: crate::api::Money,
    pub lines: Vec<PreviewLine>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct PreviewLine {
    pub sku: String,
    pub quantity: i64,
    pub amount: crate::api::Money,
    pub discount: crate::api::Money,
}

/// What a sample cart would get from a promotion not yet created: checks it as creating it
/// would, prices the cart at today's prices, and runs the engine with it alone.
pub fn preview(tx: &mut dyn Sql, ctx: &Ctx, r: &PreviewRequest) -> Result<Preview> {
    ctx.actor.require(Permission::OrdersRead)?;
    let d = draft(tx, &r.promotion).map_err(|e| crate::catalog::under(e, "promotion"))?;
    if r.lines.is_empty() || r.lines.len() > 100 {
        return Err(Error::invalid("lines", "a sample cart has 1 to 100 lines"));
    }
    let parsed = crate::orders::parse_lines("lines", &r.lines)?;
    let skus: Vec<Val> = parsed.iter().map(|(s, _)| s.as_str().into()).collect();
    let found = tx.query(&crate::catalog::variants_for_sale_sql(skus.len()), &skus)?;
    let mut lines = Vec::with_capacity(parsed.len());
    for (i, (sku, q)) in parsed.iter().enumerate() {
        let row = found
            .iter()
            .find(|row| row.get::<String>("sku").is_ok_and(|s| s == sku.as_str()))
            .ok_or_else(|| {
                Error::invalid(
                    format!("lines[{i}].sku"),
                    format!("no variant has SKU {sku}"),
                )
            })?;
        lines.push(rules::engine::CartLine {
            variant_id: row.get("id")?,
            product_id: row.get("product_id")?,
            product_type: row.get("product_type")?,
            vendor: row.get("vendor")?,
            tags: from_json(&row.get::<String>("tags")?),
            unit_price: row.get("price_minor")?,
            quantity: *q,
        });
    }
    let currency = crate::settings::load(tx)?.currency.as_str().to_string();
    let cart = rules::engine::Cart {
        channel: r
            .channel
            .clone()
            .or_else(|| d.conditions.channels.first().cloned())
            .unwrap_or_else(|| "online".into()),
        new_customer: r.new_customer.unwrap_or(true),
        customer_tags: r.customer_tags.clone().unwrap_or_default(),
        now: ctx.now,
        shipping: r.shipping.unwrap_or(0).max(0),
        lines,
    };
    let rule = d.rule(1);
    let o = rules::engine::evaluate(&cart, &[&rule]);
    let m = |a| crate::orders::money(a, &currency);
    let words = |a: i64| backroom_domain::money::human_in(a, &currency);
    let why = o.refused.first().map(|(_, w)| w.clone());
    let shipping: i64 = o.applied.iter().map(|a| a.shipping).sum();
    Ok(Preview {
        applies: !o.applied.is_empty(),
        reason_code: why.as_ref().map(|w| w.code().to_string()),
        reason: why.map(|w| w.words(&words, &|_| "another promotion".into())),
        subtotal: m(cart.lines.iter().map(|l| l.unit_price * l.quantity).sum()),
        discount: m(o.line_discounts.iter().sum()),
        shipping_discount: m(shipping),
        lines: cart
            .lines
            .iter()
            .zip(&parsed)
            .zip(&o.line_discounts)
            .map(|((l, (sku, _)), d)| PreviewLine {
                sku: sku.to_string(),
                quantity: l.quantity,
                amount: m(l.unit_price * l.quantity),
                discount: m(*d),
            })
            .collect(),
    })
}

/// Renames, switches off or on, or moves the end of a promotion.
pub fn update(tx: &mut dyn Sql, ctx: &Ctx, id: i64, p: &PromotionPatch) -> Result<Promotion> {
    ctx.actor.require(Permission::MarketingWrite)?;
    let before = get(tx, id)?;
    if let Some(n) = &p.name {
        let name = backroom_domain::values::required_text("name", n, 200)?;
        tx.exec(
            "UPDATE promotions SET name = $1 WHERE id = $2",
            params![name.as_str(), id],
        )?;
    }
    if let Some(a) = p.active {
        tx.exec(
            "UPDATE promotions SET active = $1 WHERE id = $2",
            params![a, id],
        )?;
    }
    if let Some(e) = &p.ends_at {
        let ends = match e.trim() {
            "" => None,
            t => Some(parse_local(tx, "ends_at", t)?),
        };
        tx.exec(
            "UPDATE promotions SET ends_at = $1 WHERE id = $2",
            params![ends, id],
        )?;
    }
    tx.exec(
        "UPDATE promotions SET updated_at = $1 WHERE id = $2",
        params![ctx.now, id],
    )?;
    bump_generation(tx)?;
    let after = get(tx, id)?;
    audit::record(
        tx,
        ctx,
        "promotion.updated",
        "promotion",
        id,
        crate::catalog::diff(&before, &after),
    )?;
    Ok(after)
}

pub(crate) fn row(tx: &mut dyn Sql, id: i64) -> Result<PromotionRow> {
    query_one_as::<PromotionRow>(
        tx,
        &format!("SELECT {COLUMNS} FROM promotions WHERE id = $1"),
        params![id],
    )?
    .ok_or(Error::NotFound {
        entity: "promotion",
    })
}

pub fn get(tx: &mut dyn Sql, id: i64) -> Result<Promotion> {
    let r = row(tx, id)?;
    Ok(views(tx, vec![r])?.pop().unwrap_or_else(|| unreachable!()))
}

/// Promotions, newest first (at most `limit`, from before `before`).
pub fn list(tx: &mut dyn Sql, ctx: &Ctx) -> Result<Vec<Promotion>> {
    ctx.actor.require(Permission::OrdersRead)?;
    let rows = query_as::<PromotionRow>(
        tx,
        &format!("SELECT {COLUMNS} FROM promotions ORDER BY id DESC LIMIT 500"),
        &[],
    )?;
    views(tx, rows)
}

/// The promotions as the API shows them: ids back to handles and SKUs, codes and uses counted.
fn views(tx: &mut dyn Sql, rows: Vec<PromotionRow>) -> Result<Vec<Promotion>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let counts = codes::counts(tx, &ids)?;
    let used = apply::times_used(tx, &ids)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let rule = r.rule();
        let c = &rule.conditions;
        let mut product_ids = c.products.clone();
        let mut variant_ids = c.variants.clone();
        if let Some(b) = &rule.buy_x_get_y {
            product_ids.extend(&b.get_products);
            variant_ids.extend(&b.get_variants);
        }
        let (handles, skus) = crate::catalog::names_of(tx, &product_ids, &variant_ids)?;
        let name_p = |ids: &[i64]| {
            ids.iter()
                .map(|i| handles.get(i).cloned().unwrap_or_else(|| format!("#{i}")))
                .collect()
        };
        let name_v = |ids: &[i64]| {
            ids.iter()
                .map(|i| skus.get(i).cloned().unwrap_or_else(|| format!("#{i}")))
                .collect()
        };
        let kind = r.kind();
        let (n_codes, first_code) = counts.get(&r.id).cloned().unwrap_or((0, None));
        out.push(Promotion {
            id: r.id,
            value: value_text(kind, r.percent_ppm, r.amount_minor, !rule.tiers.is_empty()),
            applies_to: rule.target.as_str().into(),
            code: first_code,
            codes: n_codes,
            automatic: r.automatic,
            combines: r.combines,
            conditions: PromotionConditions {
                channels: c.channels.clone(),
                min_subtotal: c.min_subtotal,
                min_quantity: c.min_quantity,
                products: name_p(&c.products),
                variants: name_v(&c.variants),
                product_types: c.product_types.clone(),
                vendors: c.vendors.clone(),
                tags: c.tags.clone(),
                new_customers_only: c.new_customers_only,
                customer_tags: c.customer_tags.clone(),
            },
            tiers: rule
                .tiers
                .iter()
                .map(|t| PromotionTier {
                    min_subtotal: t.min_subtotal,
                    value: match kind {
                        Kind::Percentage => percent_text(t.value),
                        _ => t.value.to_string(),
                    },
                })
                .collect(),
            buy_x_get_y: rule.buy_x_get_y.as_ref().map(|b| PromotionBuyXGetY {
                buy_quantity: b.buy_quantity,
                get_quantity: b.get_quantity,
                get_variants: name_v(&b.get_variants),
                get_products: name_p(&b.get_products),
                max_per_order: b.max_per_order,
            }),
            campaign: r.campaign,
            usage_limit: r.usage_limit,
            usage_limit_per_customer: r.usage_limit_per_customer,
            times_used: used.get(&r.id).copied().unwrap_or(0),
            starts_at: opt_rfc3339(r.starts_at),
            ends_at: opt_rfc3339(r.ends_at),
            active: r.active,
            created_at: rfc3339(r.created_at),
            name: r.name,
            kind: r.kind,
        });
    }
    Ok(out)
}
